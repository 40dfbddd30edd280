#pragma once
// RequestParser: incremental HTTP/1.1 request parser for one downstream
// connection (llhttp, strict, plus the proxy's smuggling checks). Owned by the
// connection and used by its worker thread only; allocates its head block once.
//
// Feed bytes with parse(); each call returns one event and how many bytes it
// consumed (the caller drops those and calls again with the rest):
//   kHead -> head() is valid until the next message starts
//   kBody -> decoded body bytes (a view into the input)    [repeats]
//   kMessageComplete -> the message is done; leftover bytes are the next
//                       (pipelined) request, unless keep_alive was false
//   kError -> error.status is the response to send (then close)

#include <optional>
#include <span>
#include <string_view>

#include "proxy/http/message_parser.hpp"

namespace portico::http {

// A parsed request head. Views point into the parser's arena.
struct RequestHead {
  std::string_view method;  // "GET", case-sensitive
  std::string_view target;  // as received
  int version_minor = 1;    // HTTP/1.<minor>; major is always 1
  std::span<const HeaderField> headers;
  std::string_view host;   // absolute-form authority, else the Host header ("" if none)
  std::string_view path;   // target path without query ("*" for asterisk-form)
  std::string_view query;  // after '?', without it ("" if none)
  BodyKind body = BodyKind::kNone;  // kNone, kLength or kChunked
  uint64_t content_length = 0;      // kLength only
  bool keep_alive = true;           // HTTP/1.1 default unless "close"; 1.0 needs "keep-alive"
  bool expect_continue = false;     // "Expect: 100-continue" on HTTP/1.1
  bool upgrade = false;             // Upgrade + Connection: upgrade
  std::string_view upgrade_protocol;  // the Upgrade header value

  bool is_head() const { return method == "HEAD"; }
  bool websocket() const { return upgrade && for_websocket(); }
  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }

 private:
  bool for_websocket() const;
};

class RequestParser : private detail::MessageParser {
 public:
  explicit RequestParser(const Limits& limits) : MessageParser(HTTP_REQUEST, limits) {}

  using MessageParser::finish;
  using MessageParser::in_message;
  using MessageParser::limits;
  using MessageParser::reset;
  using MessageParser::decline_upgrade;
  ParseResult parse(std::string_view input);
  const RequestHead& head() const { return head_; }

 private:
  RequestHead head_;
};

// Splits a request target into path and query; absolute-form targets yield
// their authority in *authority (else it is left untouched).
void split_target(std::string_view target, std::string_view* path, std::string_view* query,
                  std::string_view* authority);

}  // namespace portico::http
