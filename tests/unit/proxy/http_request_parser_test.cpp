#include <doctest/doctest.h>

#include <string>

#include "tests/unit/proxy/http_test_util.hpp"

using namespace portico::http;
using portico::http::test::drive_request;
using portico::http::test::Run;

namespace {

const std::string kGet =
    "GET /a/b?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";

int status_of(const std::string& req) { return drive_request(req).error; }

}  // namespace

TEST_CASE("a simple GET parses into method, target, path, query and headers") {
  Run r = drive_request(kGet);
  REQUIRE(r.error == 0);
  REQUIRE(r.messages.size() == 1);
  const auto& m = r.messages[0];
  CHECK(m.start1 == "GET");
  CHECK(m.start2 == "/a/b?x=1");
  REQUIRE(m.headers.size() == 3);
  CHECK(m.headers[0].first == "Host");
  CHECK(m.headers[0].second == "example.test");
  CHECK(m.complete);
  CHECK(m.keep_alive);
  CHECK(m.kind == BodyKind::kNone);
  CHECK(r.consumed == kGet.size());

  RequestParser p(Limits{});
  ParseResult res = p.parse(kGet);
  REQUIRE(res.event == ParseEvent::kHead);
  CHECK(res.consumed == kGet.size());
  CHECK(p.head().path == "/a/b");
  CHECK(p.head().query == "x=1");
  CHECK(p.head().host == "example.test");
  CHECK(p.head().header("user-agent") == std::optional<std::string_view>("t"));
  CHECK(p.in_message());
  res = p.parse("");
  CHECK(res.event == ParseEvent::kMessageComplete);
  CHECK_FALSE(p.in_message());
}

TEST_CASE("a request split at every byte parses the same as in one piece") {
  std::string req =
      "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nX-Long: " + std::string(300, 'v') +
      "\r\n\r\nhello world";
  for (size_t chunk : {1u, 2u, 3u, 7u, 64u}) {
    Run r = drive_request(req, chunk);
    REQUIRE(r.error == 0);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].body == "hello world");
    CHECK(r.messages[0].headers[2].second == std::string(300, 'v'));
    CHECK(r.messages[0].complete);
    CHECK(r.messages[0].kind == BodyKind::kLength);
    CHECK(r.messages[0].content_length == 11);
  }
}

TEST_CASE("pipelined requests are parsed one after another with exact consumption") {
  std::string a = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string b = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  std::string c = "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
  std::string all = a + b + c + a;
  for (size_t chunk : {1u, 5u, 1000u}) {
    Run r = drive_request(all, chunk);
    REQUIRE(r.error == 0);
    REQUIRE(r.messages.size() == 4);
    CHECK(r.messages[0].start2 == "/1");
    CHECK(r.messages[1].body == "abc");
    CHECK(r.messages[2].body == "xy");
    CHECK(r.messages[3].start2 == "/1");
    for (auto& m : r.messages) CHECK(m.complete);
    CHECK(r.consumed == all.size());
  }
  // Message boundaries: the first parse of "a+b" stops right after a's head.
  RequestParser p(Limits{});
  std::string ab = a + b;
  ParseResult r1 = p.parse(ab);
  CHECK(r1.event == ParseEvent::kHead);
  CHECK(r1.consumed == a.size());
  ParseResult r2 = p.parse(std::string_view(ab).substr(r1.consumed));
  CHECK(r2.event == ParseEvent::kMessageComplete);
  CHECK(r2.consumed == 0);
  ParseResult r3 = p.parse(std::string_view(ab).substr(r1.consumed));
  CHECK(r3.event == ParseEvent::kHead);
  CHECK(p.head().target == "/2");
}

TEST_CASE("chunked bodies are decoded, extensions and trailers accepted") {
  std::string req =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (size_t chunk : {1u, 4u, 1000u}) {
    Run r = drive_request(req, chunk);
    REQUIRE(r.error == 0);
    REQUIRE(r.messages.size() == 1);
    CHECK(r.messages[0].kind == BodyKind::kChunked);
    CHECK(r.messages[0].body == "hello 0123456789");
    CHECK(r.messages[0].complete);
    CHECK(r.leftover.empty());
  }
}

TEST_CASE("Transfer-Encoding: chunked is case-insensitive") {
  Run r = drive_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n");
  REQUIRE(r.error == 0);
  CHECK(r.messages[0].body == "z");
}

TEST_CASE("smuggling vectors are refused with the right status") {
  const std::string h = "POST / HTTP/1.1\r\nHost: h\r\n";
  SUBCASE("Content-Length with Transfer-Encoding") {
    CHECK(status_of(h + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
    CHECK(status_of(h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n") == 400);
  }
  SUBCASE("differing and duplicate Content-Length") {
    CHECK(status_of(h + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") == 400);
    CHECK(status_of(h + "Content-Length: 3, 4\r\n\r\nabcd") == 400);
    CHECK(status_of(h + "Content-Length: -1\r\n\r\n") == 400);
    CHECK(status_of(h + "Content-Length: 0x10\r\n\r\n") == 400);
  }
  SUBCASE("unknown transfer coding is 501") {
    CHECK(status_of(h + "Transfer-Encoding: gzip\r\n\r\n") == 501);
    CHECK(status_of(h + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") == 501);
    CHECK(status_of(h + "Transfer-Encoding: identity\r\n\r\n") == 501);
  }
  SUBCASE("chunked not last is 400") {
    CHECK(status_of(h + "Transfer-Encoding: chunked, gzip\r\n\r\n") == 400);
    CHECK(status_of(h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n") == 400);
  }
  SUBCASE("Transfer-Encoding in HTTP/1.0 is 400") {
    CHECK(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  }
  SUBCASE("bad chunk sizes are 400") {
    std::string c = h + "Transfer-Encoding: chunked\r\n\r\n";
    CHECK(status_of(c + "-1\r\nx\r\n0\r\n\r\n") == 400);
    CHECK(status_of(c + "zz\r\nx\r\n0\r\n\r\n") == 400);
    CHECK(status_of(c + "1 \r\nx\r\n0\r\n\r\n") == 400);
    CHECK(status_of(c + "fffffffffffffffff\r\nx\r\n0\r\n\r\n") == 400);
    CHECK(status_of(c + "1\nx\r\n0\r\n\r\n") == 400);
    CHECK(status_of(c + "3\r\nabcX0\r\n\r\n") == 400);  // data longer than its size
  }
  SUBCASE("obs-fold is 400") {
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == 400);
  }
  SUBCASE("whitespace before the colon is 400") {
    CHECK(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 0\r\n\r\n") == 400);
  }
  SUBCASE("invalid header name or value bytes are 400") {
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fz\r\n\r\n") == 400);
    CHECK(status_of(std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0z\r\n\r\n", 38)) == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n") == 400);
  }
  SUBCASE("bare CR and bare LF are 400") {
    CHECK(status_of("GET / HTTP/1.1\rHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\nHost: h\n\n") == 400);
    CHECK(status_of(h + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\rZ: w\r\n\r\n") == 400);
    CHECK(status_of(h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\r\n") == 400);
  }
  SUBCASE("Host must be present once in HTTP/1.1") {
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == 0);
  }
  SUBCASE("other request-line errors") {
    CHECK(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
    CHECK(status_of("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
    // A method llhttp does not know: 501 when it is a token, 400 when it is not one.
    CHECK(status_of("FOO / HTTP/1.1\r\nHost: h\r\n\r\n") == 501);
    CHECK(status_of("get / HTTP/1.1\r\nHost: h\r\n\r\n") == 501);
    CHECK(status_of("GETX / HTTP/1.1\r\nHost: h\r\n\r\n") == 501);
    CHECK(status_of("G@T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of(" GET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    // Only a whole well-formed request line makes it a 501: a PROXY header
    // from an untrusted peer is a malformed request.
    CHECK(status_of("PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("FOO /x HTTP/1.1\r\n") == 501);
    CHECK(status_of("FOO * HTTP/1.1\r\nHost: h\r\n\r\n") == 501);
    CHECK(status_of("FOO http://a/b HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
    CHECK(status_of("FOO x HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("FOO / HTTP/1.1 extra\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET foo HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 400);
  }
}

TEST_CASE("an HTTP/0.9 request line is refused at its end, not at the header timeout") {
  // A 0.9 client sends "GET /path\r\n" and waits: nothing more comes.
  for (std::string line : {"GET /\r\n", "HEAD /index.html\r\n", "\r\nGET /\r\n"}) {
    CAPTURE(line);
    RequestParser p(Limits{});
    ParseResult r{};
    for (size_t i = 0; i < line.size(); ++i) {  // byte by byte: no earlier answer either
      r = p.parse(std::string_view(line).substr(i, 1));
      if (i + 1 < line.size()) REQUIRE(r.event == ParseEvent::kNeedMore);
    }
    REQUIRE(r.event == ParseEvent::kError);
    CHECK(r.error.status == 505);
  }
  // A complete 1.x request line still waits for its headers.
  for (std::string line : {"GET / HTTP/1.1\r\n", "GET / HTTP/1.0\r\n", "GET /a%20b HTTP/1.1\r\nHost: h\r\n"}) {
    CAPTURE(line);
    RequestParser p(Limits{});
    CHECK(p.parse(line).event == ParseEvent::kNeedMore);
  }
  // The same in a pipeline: the second request is 0.9.
  RequestParser p(Limits{});
  std::string two = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b\r\n";
  ParseResult r = p.parse(two);
  REQUIRE(r.event == ParseEvent::kHead);
  size_t used = r.consumed;
  for (int i = 0; i < 4 && r.event != ParseEvent::kError; ++i) {
    r = p.parse(std::string_view(two).substr(used));
    used += r.consumed;
    if (r.event == ParseEvent::kMessageComplete) p.reset();
  }
  CHECK(r.event == ParseEvent::kError);
  CHECK(r.error.status == 505);
}

TEST_CASE("every error is sticky and reports nothing consumed afterwards") {
  RequestParser p(Limits{});
  ParseResult r = p.parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n");
  REQUIRE(r.event == ParseEvent::kError);
  CHECK(r.error.status == 400);
  r = p.parse(kGet);
  CHECK(r.event == ParseEvent::kError);
  CHECK(r.consumed == 0);
  p.reset();
  CHECK(p.parse(kGet).event == ParseEvent::kHead);
}

TEST_CASE("limits: 414 request line, 431 header bytes and count, 413 body") {
  Limits l;
  l.start_line = 64;
  l.header_bytes = 128;
  l.headers = 3;
  l.body = 10;
  auto run = [&](const std::string& s, size_t chunk = 1u << 30) { return drive_request(s, chunk, l).error; };
  std::string line_ok = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1\r\n";
  REQUIRE(line_ok.size() == 64 + 2);
  CHECK(run(line_ok + "Host: h\r\n\r\n") == 0);
  std::string line_long = "GET /" + std::string(64 - 13, 'a') + " HTTP/1.1\r\n";
  CHECK(run(line_long + "Host: h\r\n\r\n") == 414);
  CHECK(run(line_long + "Host: h\r\n\r\n", 1) == 414);
  // 414 even when the line never ends.
  CHECK(run("GET /" + std::string(1000, 'a')) == 414);

  // Field section bytes = 16 + n here; the limit is 128.
  auto section = [](size_t n) { return "Host: h\r\nX: " + std::string(n, 'x') + "\r\n\r\n"; };
  CHECK(run("GET / HTTP/1.1\r\n" + section(112)) == 0);
  std::string big = section(113);
  CHECK(run("GET / HTTP/1.1\r\n" + big) == 431);
  CHECK(run("GET / HTTP/1.1\r\n" + big, 3) == 431);
  CHECK(run("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n") == 0);
  CHECK(run("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n") == 431);

  CHECK(run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789") == 0);
  CHECK(run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n") == 413);
  std::string c = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK(run(c + "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n") == 0);
  CHECK(run(c + "5\r\n01234\r\n6\r\n") == 413);               // announced size
  CHECK(run(c + "5\r\n01234\r\n6\r\n567890\r\n0\r\n\r\n", 1) == 413);
  CHECK(run(c + "5\r\n01234\r\n0\r\nX: " + std::string(200, 'y') + "\r\n\r\n") == 431);  // trailers
}

TEST_CASE("Expect: 100-continue is detected on HTTP/1.1 only") {
  Run r = drive_request("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx");
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].expect_continue);
  r = drive_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
  CHECK_FALSE(r.messages[0].expect_continue);
  r = drive_request("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
  CHECK_FALSE(r.messages[0].expect_continue);
}

TEST_CASE("a WebSocket upgrade request ends in kUpgrade with the rest unconsumed") {
  std::string req =
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  Run r = drive_request(req + "\x81\x05hello");
  REQUIRE(r.error == 0);
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].upgrade);
  CHECK(r.messages[0].complete);
  CHECK(r.upgraded);
  CHECK(r.leftover == "\x81\x05hello");

  RequestParser p(Limits{});
  REQUIRE(p.parse(req).event == ParseEvent::kHead);
  CHECK(p.head().websocket());
  // Upgrade without "Connection: upgrade" is just a header.
  Run plain = drive_request("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  CHECK_FALSE(plain.messages[0].upgrade);
  CHECK_FALSE(plain.upgraded);
}

TEST_CASE("keep-alive follows HTTP/1.0 and 1.1 defaults and Connection") {
  auto ka = [](const std::string& s) { return drive_request(s).messages.at(0).keep_alive; };
  CHECK(ka("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  CHECK_FALSE(ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  CHECK(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  // Nothing is parsed after a message that closes the connection.
  Run r = drive_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.messages.size() == 1);
  CHECK(r.error == 400);
  CHECK(r.leftover == "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST_CASE("absolute-form targets give host and path; asterisk-form only for OPTIONS") {
  RequestParser p(Limits{});
  REQUIRE(p.parse("GET http://Other.test:8080/x/y?q HTTP/1.1\r\nHost: h\r\n\r\n").event == ParseEvent::kHead);
  CHECK(p.head().host == "Other.test:8080");
  CHECK(p.head().path == "/x/y");
  CHECK(p.head().query == "q");
  CHECK(status_of("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n") == 0);
  CHECK(status_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
}

TEST_CASE("a fragment in the target is refused in every form") {
  CHECK(status_of("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET /public#/../admin HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET /a?q=1#b HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET http://h/a#b HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(status_of("GET /a%23b HTTP/1.1\r\nHost: h\r\n\r\n") == 0);  // encoded: an ordinary byte
}

TEST_CASE("finish() says whether EOF cut a request") {
  RequestParser p(Limits{});
  CHECK(p.finish().event == ParseEvent::kNeedMore);
  CHECK(p.parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab").event ==
        ParseEvent::kHead);
  CHECK(p.in_message());
  CHECK(p.finish().event == ParseEvent::kError);
}

TEST_CASE("empty lines before a request line are skipped, but bounded") {
  Run r = drive_request("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 1);
  REQUIRE(r.error == 0);
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].start2 == "/");
  std::string many;
  for (int i = 0; i < 20000; ++i) many += "\r\n";
  CHECK(drive_request(many + "GET / HTTP/1.1\r\nHost: h\r\n\r\n").error == 431);
}

TEST_CASE("an empty input between body pieces keeps the body intact (chunked and Content-Length)") {
  // The connection layer calls parse({}) (a null view) to collect held events
  // whenever its input buffer runs dry in the middle of a body.
  for (bool chunked : {true, false}) {
    std::string body(3000, 'b');
    std::string req = chunked ? "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "bb8\r\n" + body + "\r\n0\r\n\r\n"
                              : "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n" + body;
    RequestParser p(Limits{});
    std::string got;
    bool complete = false;
    std::string_view in(req);
    for (int guard = 0; guard < 10000 && !complete; ++guard) {
      std::string_view piece = in.substr(0, std::min<size_t>(in.size(), 100));
      ParseResult r = p.parse(piece);
      REQUIRE(r.event != ParseEvent::kError);
      if (r.event == ParseEvent::kBody) got.append(r.body);
      if (r.event == ParseEvent::kMessageComplete) complete = true;
      in.remove_prefix(r.consumed);
      if (r.consumed == piece.size()) {
        ParseResult e = p.parse(std::string_view());
        REQUIRE(e.event != ParseEvent::kError);
        REQUIRE(e.event != ParseEvent::kBody);
        if (e.event == ParseEvent::kMessageComplete) complete = true;
      }
    }
    CHECK(complete);
    CHECK(got == body);
  }
}

TEST_CASE("chunk data must be followed by CRLF (llhttp 8 skips those two bytes unchecked)") {
  const std::string pre = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello";
  for (size_t chunk : {1u, 2u, 3u, 1000u}) {
    CHECK(drive_request(pre + "XX0\r\n\r\n", chunk).error == 400);
    CHECK(drive_request(pre + "\rX0\r\n\r\n", chunk).error == 400);
    CHECK(drive_request(pre + "\n\r0\r\n\r\n", chunk).error == 400);
    Run ok = drive_request(pre + "\r\n3\r\nabc\r\n0\r\n\r\n", chunk);
    CHECK(ok.error == 0);
    REQUIRE(ok.messages.size() == 1);
    CHECK(ok.messages[0].body == "helloabc");
    CHECK(ok.messages[0].complete);
  }
}

namespace {
// The byte-at-a-time rules LineGuard::scan implements (its fast path skips
// runs of ordinary bytes): the reference the differential test compares to.
size_t reference_scan(portico::http::detail::LineGuard& g, const char* p, size_t n, HttpError* err) {
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (g.line_index > 0 || !g.has_start_line) ++g.section_bytes;
    if (g.section_bytes > g.section_limit) {
      *err = {g.section_status, "header section too large"};
      return i;
    }
    if (g.prev_cr) {
      g.prev_cr = false;
      if (c != '\n') {
        *err = {g.syntax_status, "bare CR in message head"};
        return i;
      }
      if (g.line_len == 0 && g.line_index == 0 && g.has_start_line) {
        g.section_bytes += 2;
        if (g.section_bytes > g.section_limit) {
          *err = {g.section_status, "too many empty lines"};
          return i;
        }
      } else if (g.line_len == 0) {
        g.done = true;
        return i + 1;
      } else {
        ++g.line_index;
      }
      g.line_len = 0;
    } else if (c == '\r') {
      g.prev_cr = true;
    } else if (c == '\n') {
      *err = {g.syntax_status, "bare LF in message head"};
      return i;
    } else {
      if (g.line_len == 0 && g.line_index > 0 && (c == ' ' || c == '\t')) {
        *err = {g.syntax_status, "obs-fold or whitespace at line start"};
        return i;
      }
      ++g.line_len;
      if (g.line_index == 0 && g.has_start_line && g.line_len > g.start_line_limit) {
        *err = {g.start_line_status, "start line too long"};
        return i;
      }
    }
  }
  return n;
}
}  // namespace

TEST_CASE("LineGuard::scan agrees with the byte-at-a-time rules on random heads, split anywhere") {
  using portico::http::detail::LineGuard;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  auto next = [&seed] {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    return seed;
  };
  const char alphabet[] = "aZ09:/ -\t\r\n\r\n";
  for (int round = 0; round < 20000; ++round) {
    std::string head;
    const size_t len = next() % 300;
    for (size_t i = 0; i < len; ++i) {
      // Mostly ordinary bytes (long runs), sometimes a line end or a hazard.
      uint64_t r = next() % 100;
      head += r < 80 ? char('a' + next() % 26) : r < 92 ? "\r\n"[0] : alphabet[next() % (sizeof alphabet - 1)];
      if (r >= 80 && r < 92) head += '\n';
    }
    LineGuard a;
    a.start_line_limit = 1 + next() % 120;
    a.section_limit = 1 + next() % 250;
    a.reset(next() % 4 != 0);
    LineGuard b = a;
    // Feed both in the same random pieces until one stops.
    size_t pos = 0;
    HttpError ea{}, eb{};
    while (pos < head.size()) {
      size_t piece = 1 + next() % (head.size() - pos);
      size_t na = a.scan(head.data() + pos, piece, &ea);
      size_t nb = reference_scan(b, head.data() + pos, piece, &eb);
      CAPTURE(head);
      CAPTURE(pos);
      REQUIRE(na == nb);
      REQUIRE(ea.status == eb.status);
      REQUIRE(a.done == b.done);
      REQUIRE(a.line_index == b.line_index);
      REQUIRE(a.line_len == b.line_len);
      REQUIRE(a.section_bytes == b.section_bytes);
      REQUIRE(a.prev_cr == b.prev_cr);
      if (na < piece || ea.status) break;
      pos += piece;
    }
  }
}
