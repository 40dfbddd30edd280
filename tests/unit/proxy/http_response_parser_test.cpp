#include <doctest/doctest.h>

#include <string>

#include "tests/unit/proxy/http_test_util.hpp"

using namespace portico::http;
using portico::http::test::drive_response;
using portico::http::test::Run;

TEST_CASE("a Content-Length response is parsed byte by byte") {
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
  for (size_t chunk : {1u, 3u, 1000u}) {
    Run r = drive_response(resp, chunk);
    REQUIRE(r.error == 0);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].start1 == "200");
    CHECK(r.messages[0].start2 == "OK");
    CHECK(r.messages[0].body == "hello");
    CHECK(r.messages[0].kind == BodyKind::kLength);
    CHECK(r.messages[0].keep_alive);
    CHECK(r.messages[0].complete);
  }
}

TEST_CASE("chunked responses are decoded") {
  Run r = drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 2);
  REQUIRE(r.error == 0);
  CHECK(r.messages[0].kind == BodyKind::kChunked);
  CHECK(r.messages[0].body == "abc");
  CHECK(r.messages[0].complete);
}

TEST_CASE("a response without framing is read until close") {
  Run r = drive_response("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome bytes", 4, false, /*eof=*/true);
  REQUIRE(r.error == 0);
  CHECK(r.messages[0].kind == BodyKind::kUntilClose);
  CHECK(r.messages[0].body == "some bytes");
  CHECK(r.messages[0].complete);
  CHECK_FALSE(r.messages[0].keep_alive);
}

TEST_CASE("a response transfer coding other than chunked is a 502") {
  // RFC 9112 6.3 reads gzip alone until close, but the client would get the
  // bytes undecoded and unlabelled once portico reframes them.
  CHECK(drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", 100, false, true).error == 502);
  CHECK(drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n").error ==
        502);
  CHECK(drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n").error == 0);
  // A response without a body decodes nothing: its codings do not matter.
  CHECK(drive_response("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n").error == 0);
}

TEST_CASE("EOF inside a Content-Length body is a 502") {
  Run r = drive_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100, false, true);
  CHECK(r.error == 502);
}

TEST_CASE("HEAD, 204 and 304 responses have no body whatever the headers say") {
  std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  Run r = drive_response("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" + next, 1, /*head=*/true);
  REQUIRE(r.error == 0);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].kind == BodyKind::kNone);
  CHECK(r.messages[0].body.empty());
  CHECK(r.messages[0].headers[0].second == "1234");
  CHECK(r.messages[1].body == "ok");  // HEAD applies to one response only

  r = drive_response("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n" + next);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].kind == BodyKind::kNone);
  CHECK(r.messages[1].body == "ok");

  r = drive_response("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nTransfer-Encoding: chunked\r\n\r\n" + next);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].kind == BodyKind::kNone);
  CHECK(r.messages[1].body == "ok");
}

TEST_CASE("1xx interim responses come before the final one") {
  ResponseParser p(Limits{});
  p.expect_head_response(true);
  std::string s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
  ParseResult r = p.parse(s);
  REQUIRE(r.event == ParseEvent::kHead);
  CHECK(p.head().status == 100);
  CHECK(p.head().interim());
  size_t pos = r.consumed;
  r = p.parse(std::string_view(s).substr(pos));
  CHECK(r.event == ParseEvent::kMessageComplete);
  pos += r.consumed;
  r = p.parse(std::string_view(s).substr(pos));
  REQUIRE(r.event == ParseEvent::kHead);
  CHECK(p.head().status == 200);
  CHECK(p.head().body == BodyKind::kNone);  // HEAD survives the interim response
}

TEST_CASE("101 Switching Protocols ends HTTP on the connection") {
  Run r = drive_response(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi");
  REQUIRE(r.error == 0);
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].upgrade);
  CHECK(r.messages[0].complete);
  CHECK(r.upgraded);
  CHECK(r.leftover == "\x81\x02hi");
}

TEST_CASE("malformed responses are 502") {
  CHECK(drive_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").error == 502);
  CHECK(drive_response("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n").error == 502);
  CHECK(drive_response("HTTP/1.1 200 OK\r\nX : a\r\n\r\n").error == 502);
  CHECK(drive_response("HTTP/1.1 200 OK\rX: a\r\n\r\n").error == 502);
  CHECK(drive_response("HTTP/2.0 200 OK\r\n\r\n").error == 502);
  CHECK(drive_response("HTTP/1.1 2000 OK\r\n\r\n").error == 502);
  CHECK(drive_response("SSH-2.0-OpenSSH\r\n").error == 502);
  CHECK(drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").error == 502);
}

TEST_CASE("keep-alive of responses") {
  CHECK_FALSE(drive_response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").messages[0].keep_alive);
  CHECK_FALSE(drive_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").messages[0].keep_alive);
  CHECK(drive_response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").messages[0].keep_alive);
}

TEST_CASE("a response chunk not followed by CRLF is a 502") {
  for (size_t chunk : {1u, 1000u}) {
    CHECK(drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", chunk).error == 502);
    CHECK(drive_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", chunk).error == 0);
  }
}
