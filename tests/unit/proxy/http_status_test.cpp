#include <doctest/doctest.h>

#include <string>

#include "proxy/http/request_parser.hpp"
#include "proxy/http/status.hpp"

using namespace portico::http;

TEST_CASE("reason phrases") {
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(599) == "Server Error");
  CHECK(reason_phrase(499) == "Client Error");
}

TEST_CASE("the canned error response is complete and parseable") {
  char buf[256];
  auto n = write_error_response(400, buf);
  REQUIRE(n);
  CHECK(std::string_view(buf, *n) ==
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n");
  auto h = write_error_response(404, buf, /*head_request=*/true);
  REQUIRE(h);
  CHECK(std::string_view(buf, *h).ends_with("Content-Length: 14\r\nConnection: close\r\n\r\n"));
  for (int status : {400, 413, 414, 431, 501, 502, 503, 505}) {
    auto k = write_error_response(status, buf);
    REQUIRE(k);
    std::string_view s(buf, *k);
    size_t body = s.find("\r\n\r\n") + 4;
    std::string_view cl = s.substr(s.find("Content-Length: ") + 16);
    CHECK(std::stoul(std::string(cl.substr(0, cl.find('\r')))) == s.size() - body);
  }
  CHECK_FALSE(write_error_response(400, std::span<char>(buf, 20)));
}
