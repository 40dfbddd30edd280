#include "proxy/http/request_parser.hpp"

namespace portico::http {

bool RequestHead::for_websocket() const {
  bool ws = false;
  for_each_list_element(upgrade_protocol, [&](std::string_view p) {
    if (iequals(p, "websocket")) ws = true;
    return !ws;
  });
  return ws;
}

void split_target(std::string_view target, std::string_view* path, std::string_view* query,
                  std::string_view* authority) {
  std::string_view t = target;
  if (!t.empty() && t[0] != '/' && t != "*") {
    size_t scheme_end = t.find("://");
    if (scheme_end != std::string_view::npos) {
      t.remove_prefix(scheme_end + 3);
      size_t end = t.find_first_of("/?");
      if (authority) *authority = t.substr(0, end);
      t = end == std::string_view::npos ? std::string_view() : t.substr(end);
    }
  }
  size_t q = t.find('?');
  std::string_view p = t.substr(0, q);
  if (p.empty()) p = "/";
  *path = p;
  *query = q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

ParseResult RequestParser::parse(std::string_view input) {
  ParseResult r = MessageParser::parse(input);
  if (r.event == ParseEvent::kHead) {
    const Facts& f = facts();
    head_ = RequestHead{};
    head_.method = f.method;
    head_.target = f.target;
    head_.version_minor = llhttp().http_minor;
    head_.headers = std::span<const HeaderField>(fields(), field_count());
    head_.host = f.host;
    split_target(f.target, &head_.path, &head_.query, &head_.host);
    head_.body = f.body;
    head_.content_length = f.content_length;
    head_.keep_alive = f.keep_alive;
    head_.expect_continue = f.expect_continue;
    head_.upgrade = f.upgrade_requested;
    head_.upgrade_protocol = f.upgrade;
  }
  return r;
}

}  // namespace portico::http
