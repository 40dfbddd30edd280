#include "proxy/http/headers.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "proxy/http/status.hpp"

namespace portico::http {

HeaderSet::HeaderSet(uint32_t max_fields, size_t scratch_bytes)
    : fields_(std::make_unique<HeaderField[]>(std::clamp<uint32_t>(max_fields, 1, kMaxFields))),
      cap_(std::min(max_fields, kMaxFields)),
      scratch_(std::make_unique<char[]>(scratch_bytes > 0 ? scratch_bytes : 1)),
      scratch_cap_(scratch_bytes) {}

void HeaderSet::clear() {
  count_ = 0;
  scratch_len_ = 0;
}

bool HeaderSet::assign(std::span<const HeaderField> fields) {
  clear();
  if (fields.size() > cap_) return false;
  for (const auto& f : fields) fields_[count_++] = f;
  return true;
}

bool HeaderSet::add(std::string_view name, std::string_view value) {
  if (count_ >= cap_) return false;
  fields_[count_++] = HeaderField{name, value};
  return true;
}

bool HeaderSet::set(std::string_view name, std::string_view value) {
  remove(name);
  return add(name, value);
}

size_t HeaderSet::remove(std::string_view name) {
  return remove_if([&](const HeaderField& f) { return iequals(f.name, name); });
}

std::optional<std::string_view> HeaderSet::store(std::initializer_list<std::string_view> parts) {
  size_t total = 0;
  for (auto p : parts) total += p.size();
  if (total > scratch_cap_ - scratch_len_) return std::nullopt;
  char* start = scratch_.get() + scratch_len_;
  for (auto p : parts) {
    if (!p.empty()) std::memcpy(scratch_.get() + scratch_len_, p.data(), p.size());
    scratch_len_ += p.size();
  }
  return std::string_view(start, total);
}

namespace {

bool is_static_hop_by_hop(std::string_view name) {
  return iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "proxy-connection") || iequals(name, "proxy") ||
         istarts_with(name, "proxy-") || iequals(name, "te") || iequals(name, "trailer") ||
         iequals(name, "transfer-encoding") || iequals(name, "upgrade");
}

bool protected_from_connection(std::string_view name) {
  return iequals(name, "host") || iequals(name, "content-length");
}

// Case-insensitive lexicographic order of field names.
bool iless(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    char x = ascii_lower(a[i]), y = ascii_lower(b[i]);
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

// Blanks the name of every field that a Connection field names. The candidates
// are sorted by name once and each token is looked up, so the cost is
// O((fields + tokens) log fields) whatever the message holds: a head of 32 KiB
// with a Connection list of 15,000 tokens and 100 fields must not cost more than a
// few times an ordinary one (checking each field against every token did: 8 ms).
void blank_connection_nominees(std::span<HeaderField> fields) {
  auto is_connection = [](const HeaderField& f) { return iequals(f.name, "connection"); };
  if (std::none_of(fields.begin(), fields.end(), is_connection)) return;
  std::array<uint16_t, HeaderSet::kMaxFields> index;
  std::array<bool, HeaderSet::kMaxFields> named{};
  size_t n = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& name = fields[i].name;
    if (name.empty() || protected_from_connection(name) || is_static_hop_by_hop(name)) continue;
    index[n++] = static_cast<uint16_t>(i);
  }
  auto by_name = [&](uint16_t a, uint16_t b) { return iless(fields[a].name, fields[b].name); };
  std::sort(index.begin(), index.begin() + n, by_name);
  for (const auto& f : fields) {
    if (!is_connection(f)) continue;
    for_each_list_element(f.value, [&](std::string_view token) {
      auto it = std::lower_bound(index.begin(), index.begin() + n, token,
                                 [&](uint16_t a, std::string_view t) { return iless(fields[a].name, t); });
      // A run of equal names is marked whole the first time, so a repeated
      // token costs one lookup, never another walk of the run.
      if (it == index.begin() + n || !iequals(fields[*it].name, token) || named[*it]) return true;
      for (; it != index.begin() + n && iequals(fields[*it].name, token); ++it) named[*it] = true;
      return true;
    });
  }
  for (size_t i = 0; i < fields.size(); ++i)
    if (named[i]) fields[i].name = {};
}

}  // namespace

bool strip_hop_by_hop(HeaderSet& h, bool tunnel) {
  // Pass 1: blank the name of every field some Connection field names (the
  // array is not reordered here, so Connection values stay readable).
  std::span<HeaderField> fields = h.mutable_fields();
  blank_connection_nominees(fields);
  // Pass 2: drop the blanked and the always-hop-by-hop fields.
  h.remove_if([&](const HeaderField& f) {
    if (f.name.empty()) return true;
    if (tunnel && iequals(f.name, "upgrade")) return false;
    return is_static_hop_by_hop(f.name);
  });
  if (tunnel) return h.add("Connection", "upgrade");
  return true;
}

bool set_framing(HeaderSet& h, BodyKind body, uint64_t content_length) {
  h.remove("transfer-encoding");
  switch (body) {
    case BodyKind::kNone:
      return true;
    case BodyKind::kUntilClose:
      h.remove("content-length");
      return true;
    case BodyKind::kChunked:
      h.remove("content-length");
      return h.add("Transfer-Encoding", "chunked");
    case BodyKind::kLength: {
      char digits[24];
      size_t n = 0;
      do {
        digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + content_length % 10);
        content_length /= 10;
      } while (content_length != 0);
      auto v = h.store({std::string_view(digits + sizeof(digits) - n, n)});
      return v && h.set("Content-Length", *v);
    }
  }
  return false;
}

std::optional<std::string_view> HeaderSet::store_list(std::string_view name, std::string_view last) {
  // Two passes (measure, then copy) so that k fields cost O(bytes), not the
  // O(k * bytes) of growing the list one field at a time.
  size_t total = last.size();
  for (const auto& f : fields())
    if (iequals(f.name, name) && !trim_ows(f.value).empty()) total += trim_ows(f.value).size() + 2;
  if (total > scratch_cap_ - scratch_len_) return std::nullopt;
  char* start = scratch_.get() + scratch_len_;
  char* out = start;
  for (const auto& f : fields()) {
    std::string_view v = trim_ows(f.value);
    if (!iequals(f.name, name) || v.empty()) continue;
    std::memcpy(out, v.data(), v.size());
    out += v.size();
    std::memcpy(out, ", ", 2);
    out += 2;
  }
  if (!last.empty()) std::memcpy(out, last.data(), last.size());
  scratch_len_ += total;
  return std::string_view(start, total);
}

bool add_forwarding_headers(HeaderSet& h, const ForwardedInfo& info) {
  // X-Forwarded-For: every existing field merged in order, then ours.
  auto xff = h.store_list("x-forwarded-for", info.client_ip);
  if (!xff || !h.set("X-Forwarded-For", *xff)) return false;
  if (!h.set("X-Forwarded-Proto", info.tls ? "https" : "http")) return false;
  if (!info.host.empty() && !h.set("X-Forwarded-Host", info.host)) return false;
  else if (info.host.empty()) h.remove("x-forwarded-host");
  // Via: a list; each hop appends "<received-protocol> <pseudonym>".
  auto via = h.store_list("via", info.version_minor == 0 ? "1.0 portico" : "1.1 portico");
  return via && h.set("Via", *via);
}

std::optional<std::string_view> ensure_request_id(HeaderSet& h, RandomSource rng) {
  if (auto existing = h.get("x-request-id"); existing && !existing->empty()) return existing;
  static constexpr char kHex[] = "0123456789abcdef";
  char id[32];
  for (int half = 0; half < 2; ++half) {
    uint64_t v = rng();
    for (int i = 0; i < 16; ++i) id[half * 16 + i] = kHex[(v >> (60 - 4 * i)) & 0xf];
  }
  auto stored = h.store({std::string_view(id, sizeof(id))});
  if (!stored || !h.set("X-Request-Id", *stored)) return std::nullopt;
  return stored;
}

bool apply_transform(HeaderSet& h, const conf::HeaderTransform& t) {
  for (const auto& name : t.remove) h.remove(name);
  for (const auto& [name, value] : t.add)
    if (!h.set(name, value)) return false;
  return true;
}

namespace {

bool safe_value(std::string_view v) {
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool put_fields(std::span<char> out, size_t* pos, std::span<const HeaderField> fields) {
  for (const auto& f : fields) {
    if (!is_token(f.name) || !safe_value(f.value)) return false;
    if (!detail::put(out, pos, f.name) || !detail::put(out, pos, ": ") ||
        !detail::put(out, pos, f.value) || !detail::put(out, pos, "\r\n"))
      return false;
  }
  return detail::put(out, pos, "\r\n");
}

}  // namespace

std::optional<size_t> serialize_request_head(std::span<char> out, std::string_view method,
                                             std::string_view target,
                                             std::span<const HeaderField> fields) {
  if (!is_token(method) || target.empty()) return std::nullopt;
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  size_t pos = 0;
  if (!detail::put(out, &pos, method) || !detail::put(out, &pos, " ") ||
      !detail::put(out, &pos, target) || !detail::put(out, &pos, " HTTP/1.1\r\n") ||
      !put_fields(out, &pos, fields))
    return std::nullopt;
  return pos;
}

std::optional<size_t> serialize_response_head(std::span<char> out, int status,
                                              std::string_view reason,
                                              std::span<const HeaderField> fields) {
  if (status < 100 || status > 999 || !safe_value(reason)) return std::nullopt;
  if (reason.empty()) reason = reason_phrase(status);
  size_t pos = 0;
  if (!detail::put(out, &pos, "HTTP/1.1 ") || !detail::put_uint(out, &pos, status) ||
      !detail::put(out, &pos, " ") || !detail::put(out, &pos, reason) ||
      !detail::put(out, &pos, "\r\n") || !put_fields(out, &pos, fields))
    return std::nullopt;
  return pos;
}

}  // namespace portico::http
