#pragma once
// HTTP status reason phrases and the canned error response the proxy sends
// when it answers by itself (parse errors, no route, upstream failures).
// Pure functions; any thread.

#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace portico::http {

constexpr std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
      if (status >= 100 && status < 200) return "Informational";
      if (status >= 200 && status < 300) return "Success";
      if (status >= 300 && status < 400) return "Redirection";
      if (status >= 400 && status < 500) return "Client Error";
      return "Server Error";
  }
}

namespace detail {
inline bool put(std::span<char> out, size_t* pos, std::string_view s) {
  if (s.size() > out.size() - *pos) return false;
  std::memcpy(out.data() + *pos, s.data(), s.size());
  *pos += s.size();
  return true;
}
inline bool put_uint(std::span<char> out, size_t* pos, unsigned long long v) {
  char digits[24];
  size_t n = 0;
  do {
    digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return put(out, pos, std::string_view(digits + sizeof(digits) - n, n));
}
}  // namespace detail

// Writes a complete response: status line, Content-Type: text/plain,
// Content-Length, Connection: close and the body "<status> <reason>\n" (no
// body for HEAD when head_request). Returns the size, or nullopt if it does
// not fit in `out` (256 bytes always suffice).
inline std::optional<size_t> write_error_response(int status, std::span<char> out,
                                                  bool head_request = false) {
  if (status < 100 || status > 999) status = 500;
  std::string_view reason = reason_phrase(status);
  size_t body_len = 3 + 1 + reason.size() + 1;
  size_t pos = 0;
  bool ok = detail::put(out, &pos, "HTTP/1.1 ") && detail::put_uint(out, &pos, status) &&
            detail::put(out, &pos, " ") && detail::put(out, &pos, reason) &&
            detail::put(out, &pos, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ") &&
            detail::put_uint(out, &pos, body_len) &&
            detail::put(out, &pos, "\r\nConnection: close\r\n\r\n");
  if (ok && !head_request)
    ok = detail::put_uint(out, &pos, status) && detail::put(out, &pos, " ") &&
         detail::put(out, &pos, reason) && detail::put(out, &pos, "\n");
  if (!ok) return std::nullopt;
  return pos;
}

}  // namespace portico::http
