#include "proxy/http/response_parser.hpp"

namespace portico::http {

ParseResult ResponseParser::parse(std::string_view input) {
  ParseResult r = MessageParser::parse(input);
  if (r.event == ParseEvent::kHead) {
    const Facts& f = facts();
    head_ = ResponseHead{};
    head_.status = llhttp().status_code;
    head_.reason = f.reason;
    head_.version_minor = llhttp().http_minor;
    head_.headers = std::span<const HeaderField>(fields(), field_count());
    head_.body = f.body;
    head_.content_length = f.content_length;
    head_.keep_alive = f.keep_alive;
    head_.switching_protocols = head_.status == 101;
  }
  return r;
}

}  // namespace portico::http
