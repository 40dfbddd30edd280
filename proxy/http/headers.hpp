#pragma once
// Header editing for proxied messages: HeaderSet (a bounded, editable list of
// fields plus a scratch arena for generated values), the standard transforms
// (hop-by-hop removal, re-framing, X-Forwarded-*, Via, X-Request-Id, route
// add/remove) and the head serializer. A connection owns one HeaderSet per
// direction and reuses it per message; it allocates only when constructed.
// Worker-thread only.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "conf/config.hpp"
#include "proxy/http/message.hpp"

namespace portico::http {

class HeaderSet {
 public:
  // Bound on max_fields: listeners' limits.headers (at most 1000) plus what
  // portico adds (HttpWorker::fit_heads).
  static constexpr uint32_t kMaxFields = 1088;
  explicit HeaderSet(uint32_t max_fields = 128, size_t scratch_bytes = 4096);

  void clear();  // drops fields and scratch: views from store() die
  // Replaces the content with `fields` (views are kept, not copied).
  bool assign(std::span<const HeaderField> fields);
  bool add(std::string_view name, std::string_view value);  // false when full
  bool set(std::string_view name, std::string_view value);  // remove all `name`, then add
  size_t remove(std::string_view name);                     // case-insensitive, keeps order
  template <class Pred>
  size_t remove_if(Pred pred) {
    uint32_t out = 0;
    for (uint32_t i = 0; i < count_; ++i)
      if (!pred(fields_[i])) fields_[out++] = fields_[i];
    size_t removed = count_ - out;
    count_ = out;
    return removed;
  }
  std::optional<std::string_view> get(std::string_view name) const {
    return find_header(fields(), name);
  }
  std::span<const HeaderField> fields() const { return {fields_.get(), count_}; }
  std::span<HeaderField> mutable_fields() { return {fields_.get(), count_}; }
  size_t size() const { return count_; }
  uint32_t capacity() const { return cap_; }
  size_t store_capacity() const { return scratch_cap_; }

  // Copies the concatenation of parts into the scratch arena; nullopt when full.
  std::optional<std::string_view> store(std::initializer_list<std::string_view> parts);
  // Stores the list "v1, v2, ..., last": the OWS-trimmed, non-empty values of every
  // `name` field in order, then `last` (a list header merged and appended to).
  std::optional<std::string_view> store_list(std::string_view name, std::string_view last);

 private:
  std::unique_ptr<HeaderField[]> fields_;
  uint32_t cap_;
  uint32_t count_ = 0;
  std::unique_ptr<char[]> scratch_;
  size_t scratch_cap_;
  size_t scratch_len_ = 0;
};

// Removes hop-by-hop fields (RFC 9110 7.6.1): Connection and every field it
// names (except Host / Content-Length, which a client must not be able to
// strip), Keep-Alive, Proxy-Connection, Proxy and Proxy-*, TE, Trailer,
// Transfer-Encoding (re-framed by set_framing) and Upgrade. When `tunnel`
// (a WebSocket upgrade being forwarded) Upgrade is kept and
// "Connection: upgrade" is put back.
bool strip_hop_by_hop(HeaderSet& h, bool tunnel);

// Sets the framing headers for the body as it will be sent:
// kLength -> Content-Length: n; kChunked -> Transfer-Encoding: chunked (no
// Content-Length); kUntilClose -> neither; kNone -> Transfer-Encoding removed,
// Content-Length left as is (it is informational on HEAD / 304 responses).
bool set_framing(HeaderSet& h, BodyKind body, uint64_t content_length);

// What the proxy knows about the downstream side of a request.
struct ForwardedInfo {
  std::string_view client_ip;  // textual address, no port
  bool tls = false;            // the downstream connection is TLS
  std::string_view host;       // the Host the client asked for
  int version_minor = 1;       // HTTP/1.<minor> of the received message (for Via)
};

// X-Forwarded-For: appends client_ip (existing fields merged into one);
// X-Forwarded-Proto and X-Forwarded-Host: set; Via: "1.x portico" appended.
bool add_forwarding_headers(HeaderSet& h, const ForwardedInfo& info);

// Injected randomness (tests pass a fixed sequence; workers their own PRNG).
struct RandomSource {
  uint64_t (*next)(void* state) = nullptr;
  void* state = nullptr;
  uint64_t operator()() const { return next(state); }
};

// Keeps a present X-Request-Id, else adds 32 lowercase hex digits (128 bits
// from rng). Returns the id in use; nullopt when the set is full.
std::optional<std::string_view> ensure_request_id(HeaderSet& h, RandomSource rng);

// Route header transform: removes `remove` names, then sets each `add` pair
// (replacing any field of that name, so a client cannot pre-seed it).
bool apply_transform(HeaderSet& h, const conf::HeaderTransform& t);

// Writes "METHOD target HTTP/1.1\r\n" + fields + "\r\n" into out. Returns
// the size, or nullopt when it does not fit or a field is unsafe (name not a
// token, CR/LF/NUL in a value).
std::optional<size_t> serialize_request_head(std::span<char> out, std::string_view method,
                                             std::string_view target,
                                             std::span<const HeaderField> fields);
// Writes "HTTP/1.1 status reason\r\n" + fields + "\r\n"; an empty reason
// means the standard phrase.
std::optional<size_t> serialize_response_head(std::span<char> out, int status,
                                              std::string_view reason,
                                              std::span<const HeaderField> fields);

}  // namespace portico::http
