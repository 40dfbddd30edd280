#include "proxy/http/headers.hpp"

#include <cstring>

#include "proxy/http/status.hpp"

namespace portico::http {

HeaderSet::HeaderSet(uint32_t max_fields, size_t scratch_bytes)
    : fields_(std::make_unique<HeaderField[]>(max_fields > 0 ? max_fields : 1)),
      cap_(max_fields),
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

}  // namespace

bool strip_hop_by_hop(HeaderSet& h, bool tunnel) {
  // Pass 1: blank the name of every field some Connection field names (the
  // array is not reordered here, so Connection values stay readable).
  std::span<HeaderField> fields = h.mutable_fields();
  for (auto& f : fields) {
    if (f.name.empty() || protected_from_connection(f.name) || is_static_hop_by_hop(f.name))
      continue;
    if (header_has_token(fields, "connection", f.name)) f.name = {};
  }
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

bool add_forwarding_headers(HeaderSet& h, const ForwardedInfo& info) {
  // X-Forwarded-For: merge every existing field (in order) and append ours.
  std::optional<std::string_view> xff = std::string_view();
  bool first = true;
  for (const auto& f : h.fields()) {
    if (!iequals(f.name, "x-forwarded-for") || trim_ows(f.value).empty()) continue;
    xff = h.store({*xff, first ? "" : ", ", trim_ows(f.value)});
    if (!xff) return false;
    first = false;
  }
  xff = first ? h.store({info.client_ip}) : h.store({*xff, ", ", info.client_ip});
  if (!xff || !h.set("X-Forwarded-For", *xff)) return false;
  if (!h.set("X-Forwarded-Proto", info.tls ? "https" : "http")) return false;
  if (!info.host.empty() && !h.set("X-Forwarded-Host", info.host)) return false;
  else if (info.host.empty()) h.remove("x-forwarded-host");
  // Via: a list; each hop appends "<received-protocol> <pseudonym>".
  std::string_view ours = info.version_minor == 0 ? "1.0 portico" : "1.1 portico";
  std::optional<std::string_view> via = std::string_view();
  first = true;
  for (const auto& f : h.fields()) {
    if (!iequals(f.name, "via") || trim_ows(f.value).empty()) continue;
    via = h.store({*via, first ? "" : ", ", trim_ows(f.value)});
    if (!via) return false;
    first = false;
  }
  via = first ? std::optional<std::string_view>(ours) : h.store({*via, ", ", ours});
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
