#pragma once
// ResponseParser: incremental HTTP/1.1 response parser for one upstream
// connection (llhttp, strict). Owned by the upstream connection, used by its
// worker thread only. Same event protocol as RequestParser; errors carry 502.
// Before feeding the response to a HEAD request call expect_head_response():
// the body is then absent whatever Content-Length says. 1xx responses come
// as their own head + kMessageComplete; keep parsing for the final one.
// A 101 head is followed by kMessageComplete, then kUpgrade (tunnel).
// For kUntilClose bodies call finish() at EOF to get kMessageComplete.

#include <optional>
#include <span>
#include <string_view>

#include "proxy/http/message_parser.hpp"

namespace portico::http {

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::span<const HeaderField> headers;
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;  // kLength only
  bool keep_alive = true;       // false: close the upstream connection after this message
  bool switching_protocols = false;  // 101

  bool interim() const { return status >= 100 && status < 200 && status != 101; }
  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

class ResponseParser : private detail::MessageParser {
 public:
  explicit ResponseParser(const Limits& limits) : MessageParser(HTTP_RESPONSE, limits) {}

  using MessageParser::finish;
  using MessageParser::in_message;
  using MessageParser::limits;
  using MessageParser::reset;
  // The request this response answers was HEAD: no body follows the head.
  void expect_head_response(bool head) { head_request_ = head; }
  ParseResult parse(std::string_view input);
  const ResponseHead& head() const { return head_; }

 private:
  ResponseHead head_;
};

}  // namespace portico::http
