#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proxy/http/headers.hpp"
#include "proxy/http/request_parser.hpp"

using namespace portico::http;

namespace {

std::vector<std::string> lines(const HeaderSet& h) {
  std::vector<std::string> out;
  for (const auto& f : h.fields()) out.push_back(std::string(f.name) + ": " + std::string(f.value));
  return out;
}

uint64_t counter_rng(void* state) { return (*static_cast<uint64_t*>(state))++; }

}  // namespace

TEST_CASE("hop-by-hop fields and those named by Connection are removed") {
  HeaderSet h;
  h.add("Host", "a");
  h.add("Connection", "keep-alive, X-Secret, host");
  h.add("Keep-Alive", "timeout=5");
  h.add("X-Secret", "s");
  h.add("connection", "x-other");
  h.add("X-Other", "o");
  h.add("Proxy-Connection", "keep-alive");
  h.add("Proxy-Authorization", "Basic xx");
  h.add("Proxy", "http://evil");  // httpoxy
  h.add("TE", "trailers");
  h.add("Trailer", "X-T");
  h.add("Transfer-Encoding", "chunked");
  h.add("Upgrade", "websocket");
  h.add("Accept", "*/*");
  REQUIRE(strip_hop_by_hop(h, false));
  CHECK(lines(h) == std::vector<std::string>{"Host: a", "Accept: */*"});
}

TEST_CASE("Connection names: every field of a named name goes, whatever the order and case") {
  HeaderSet h;
  h.add("X-B", "1");
  h.add("x-a", "2");
  h.add("Accept", "*/*");
  h.add("X-A", "3");
  h.add("Connection", " X-A ,x-b,, X-A,x-missing");
  h.add("X-AB", "kept: a longer name with a named prefix");
  h.add("X", "kept: a shorter one");
  h.add("Content-Length", "0");
  h.add("connection", "content-length, X-b");
  h.add("x-b", "4");
  REQUIRE(strip_hop_by_hop(h, false));
  CHECK(lines(h) == std::vector<std::string>{"Accept: */*", "X-AB: kept: a longer name with a named prefix",
                                             "X: kept: a shorter one", "Content-Length: 0"});
}

TEST_CASE("a Connection list of thousands of tokens names each field once") {
  // Many fields, a list far longer than the fields (a repeated name, names of
  // no field): the outcome is the same as for a short list.
  HeaderSet h(HeaderSet::kMaxFields, 1 << 16);
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back("X-" + std::to_string(i));
  for (const auto& n : names) h.add(n, "v");
  std::string list;
  for (int i = 0; i < 5000; ++i) list += (i % 3 == 0 ? "x-7," : i % 3 == 1 ? "X-150, " : "nope,");
  h.add("Connection", list);
  h.add("x-7", "again");
  REQUIRE(strip_hop_by_hop(h, false));
  CHECK(h.size() == 198);
  CHECK_FALSE(h.get("x-7"));
  CHECK_FALSE(h.get("x-150"));
  CHECK(h.get("x-8") == "v");
}

TEST_CASE("tunnelling keeps Upgrade and puts Connection: upgrade back") {
  HeaderSet h;
  h.add("Host", "a");
  h.add("Connection", "Upgrade");
  h.add("Upgrade", "websocket");
  h.add("Sec-WebSocket-Key", "k");
  REQUIRE(strip_hop_by_hop(h, true));
  CHECK(lines(h) == std::vector<std::string>{"Host: a", "Upgrade: websocket", "Sec-WebSocket-Key: k",
                                             "Connection: upgrade"});
}

TEST_CASE("framing is rewritten for the body as it will be sent") {
  HeaderSet h;
  h.add("Content-Length", "10");
  h.add("Transfer-Encoding", "chunked");
  REQUIRE(set_framing(h, BodyKind::kChunked, 0));
  CHECK(lines(h) == std::vector<std::string>{"Transfer-Encoding: chunked"});
  REQUIRE(set_framing(h, BodyKind::kLength, 18446744073709551615ull));
  CHECK(lines(h) == std::vector<std::string>{"Content-Length: 18446744073709551615"});
  REQUIRE(set_framing(h, BodyKind::kNone, 0));
  CHECK(lines(h) == std::vector<std::string>{"Content-Length: 18446744073709551615"});
  REQUIRE(set_framing(h, BodyKind::kUntilClose, 0));
  CHECK(h.size() == 0);
}

TEST_CASE("X-Forwarded-For is appended, Proto/Host set, Via appended") {
  HeaderSet h;
  h.add("X-Forwarded-For", "192.0.2.1");
  h.add("Host", "site.test");
  h.add("x-forwarded-for", " 198.51.100.7 ");
  h.add("X-Forwarded-Proto", "ftp");
  h.add("Via", "1.0 other");
  ForwardedInfo info;
  info.client_ip = "127.0.0.1";
  info.tls = true;
  info.host = "site.test";
  REQUIRE(add_forwarding_headers(h, info));
  CHECK(h.get("x-forwarded-for") == std::optional<std::string_view>("192.0.2.1, 198.51.100.7, 127.0.0.1"));
  CHECK(h.get("x-forwarded-proto") == std::optional<std::string_view>("https"));
  CHECK(h.get("x-forwarded-host") == std::optional<std::string_view>("site.test"));
  CHECK(h.get("via") == std::optional<std::string_view>("1.0 other, 1.1 portico"));
  size_t xff = 0;
  for (const auto& f : h.fields()) xff += iequals(f.name, "x-forwarded-for");
  CHECK(xff == 1);

  HeaderSet fresh;
  info.tls = false;
  info.version_minor = 0;
  REQUIRE(add_forwarding_headers(fresh, info));
  CHECK(fresh.get("x-forwarded-for") == std::optional<std::string_view>("127.0.0.1"));
  CHECK(fresh.get("x-forwarded-proto") == std::optional<std::string_view>("http"));
  CHECK(fresh.get("via") == std::optional<std::string_view>("1.0 portico"));
}

TEST_CASE("X-Request-Id is generated from the injected RNG only when absent") {
  uint64_t state = 0x0123456789abcdefull;
  RandomSource rng{&counter_rng, &state};
  HeaderSet h;
  auto id = ensure_request_id(h, rng);
  REQUIRE(id);
  CHECK(*id == "0123456789abcdef0123456789abcdf0");
  CHECK(h.get("X-Request-Id") == id);
  HeaderSet given;
  given.add("x-request-id", "abc");
  CHECK(ensure_request_id(given, rng) == std::optional<std::string_view>("abc"));
  CHECK(given.size() == 1);
}

TEST_CASE("route transforms remove, then set in config order") {
  portico::conf::HeaderTransform t;
  t.remove = {"X-Debug"};
  t.add = {{"X-Env", "prod"}, {"X-Two", "2"}};
  HeaderSet h;
  h.add("x-debug", "1");
  h.add("X-Env", "dev");  // a client cannot pre-seed a header the route sets
  h.add("Accept", "*/*");
  REQUIRE(apply_transform(h, t));
  CHECK(lines(h) == std::vector<std::string>{"Accept: */*", "X-Env: prod", "X-Two: 2"});
}

TEST_CASE("a full HeaderSet and a full scratch arena report failure") {
  HeaderSet h(2, 8);
  CHECK(h.add("A", "1"));
  CHECK(h.add("B", "2"));
  CHECK_FALSE(h.add("C", "3"));
  CHECK(h.store({"12345678"}));
  CHECK_FALSE(h.store({"9"}));
  HeaderSet tiny(4, 4);
  ForwardedInfo info;
  info.client_ip = "127.0.0.1";
  CHECK_FALSE(add_forwarding_headers(tiny, info));
}

TEST_CASE("request and response heads serialize into a bounded buffer") {
  HeaderSet h;
  h.add("Host", "a");
  h.add("X-Empty", "");
  char buf[256];
  auto n = serialize_request_head(buf, "GET", "/x?y", h.fields());
  REQUIRE(n);
  CHECK(std::string_view(buf, *n) == "GET /x?y HTTP/1.1\r\nHost: a\r\nX-Empty: \r\n\r\n");
  // Every size smaller than needed is refused; the exact size works.
  for (size_t cap = 0; cap < *n; ++cap) CHECK_FALSE(serialize_request_head(std::span<char>(buf, cap), "GET", "/x?y", h.fields()));
  CHECK(serialize_request_head(std::span<char>(buf, *n), "GET", "/x?y", h.fields()) == n);

  auto r = serialize_response_head(buf, 404, "", h.fields());
  REQUIRE(r);
  CHECK(std::string_view(buf, *r) == "HTTP/1.1 404 Not Found\r\nHost: a\r\nX-Empty: \r\n\r\n");
  r = serialize_response_head(buf, 299, "Custom", {});
  CHECK(std::string_view(buf, *r) == "HTTP/1.1 299 Custom\r\n\r\n");
}

TEST_CASE("the serializer refuses header injection") {
  char buf[256];
  HeaderSet h;
  h.add("X", "a\r\nEvil: 1");
  CHECK_FALSE(serialize_request_head(buf, "GET", "/", h.fields()));
  HeaderSet n;
  n.add("Bad Name", "v");
  CHECK_FALSE(serialize_response_head(buf, 200, "", n.fields()));
  CHECK_FALSE(serialize_request_head(buf, "GET", "/a b", {}));
  CHECK_FALSE(serialize_request_head(buf, "G\nET", "/", {}));
  CHECK_FALSE(serialize_response_head(buf, 200, "OK\r\nX: y", {}));
}

TEST_CASE("a parsed request is forwarded: strip, frame, forward, serialize") {
  RequestParser p(Limits{});
  std::string req =
      "POST /api HTTP/1.1\r\nHost: site.test\r\nConnection: keep-alive\r\n"
      "Transfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
  REQUIRE(p.parse(req).event == ParseEvent::kHead);
  HeaderSet h;
  REQUIRE(h.assign(p.head().headers));
  REQUIRE(strip_hop_by_hop(h, false));
  REQUIRE(set_framing(h, p.head().body, p.head().content_length));
  ForwardedInfo info{"127.0.0.1", false, p.head().host, 1};
  REQUIRE(add_forwarding_headers(h, info));
  char buf[512];
  auto n = serialize_request_head(buf, p.head().method, p.head().target, h.fields());
  REQUIRE(n);
  CHECK(std::string_view(buf, *n) ==
        "POST /api HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n"
        "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: site.test\r\nVia: 1.1 portico\r\n\r\n");
}
