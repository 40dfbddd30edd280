#pragma once
// Types shared by the HTTP/1.1 parsers, header transforms and router: header
// fields (views into a buffer someone else owns), parse limits, the error an
// engine reports (always with the HTTP status to answer) and ASCII helpers.
// Plain values; any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "conf/config.hpp"

namespace portico::http {

// One header field line; both views point into the owner's buffer.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// Bounds applied while parsing one message head and body. Built from the
// listener's conf::ListenerLimits; the defaults are the config defaults.
struct Limits {
  size_t start_line = 8 * 1024;     // request line / status line bytes (without CRLF)
  size_t header_bytes = 32 * 1024;  // header section bytes (lines after the start line)
  uint32_t headers = 100;           // header field lines
  uint64_t body = 64ull << 20;      // request bodies only; responses are streamed unbounded

  static Limits from(const conf::ListenerLimits& l) {
    Limits out;
    out.start_line = static_cast<size_t>(l.request_line);
    out.header_bytes = static_cast<size_t>(l.header_bytes);
    out.headers = l.headers;
    out.body = l.body;
    return out;
  }
  bool operator==(const Limits&) const = default;
};

// What went wrong and what to answer. `reason` is a static string for logs.
struct HttpError {
  int status = 0;  // 0 = no error
  const char* reason = "";
  explicit operator bool() const { return status != 0; }
};

// How the message body is delimited (after the proxy's smuggling checks).
enum class BodyKind : uint8_t {
  kNone,        // no body (no framing header, HEAD response, 1xx/204/304)
  kLength,      // Content-Length (may be 0)
  kChunked,     // Transfer-Encoding: chunked; the parser yields decoded data
  kUntilClose,  // responses only: read until the upstream closes
};

// ---- ASCII helpers (locale-free) ----

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 9110 tchar (token characters).
constexpr bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  return true;
}

constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each non-empty element of a comma-separated list
// (RFC 9110 5.6.1), elements trimmed of OWS. Stops early when fn returns false.
template <class Fn>
constexpr void for_each_list_element(std::string_view list, Fn&& fn) {
  while (true) {
    size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !fn(element)) return;
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// First value of header `name` (case-insensitive), or nullopt.
inline std::optional<std::string_view> find_header(std::span<const HeaderField> fields,
                                                   std::string_view name) {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return f.value;
  return std::nullopt;
}

}  // namespace portico::http
