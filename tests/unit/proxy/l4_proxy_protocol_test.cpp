#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "proxy/l4/proxy_protocol.hpp"

using namespace portico::l4;

namespace {

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  inet_pton(AF_INET, ip, &a->sin_addr);
  return ss;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a->sin6_addr);
  return ss;
}

// Feeds the bytes as a reader would: exactly `want` more at a time (v1 tail: the whole line).
ProxyParse feed(const std::string& bytes, ProxyHeader& h) {
  size_t have = 0;
  for (int i = 0; i < 2000; ++i) {
    ProxyParse r = parse_proxy_header(reinterpret_cast<const uint8_t*>(bytes.data()), have, h);
    if (r.state != ProxyParse::State::kNeedMore) return r;
    REQUIRE(r.want >= 1);
    if (have + r.want > bytes.size()) return r;  // the reader would wait for more
    have += r.want;
  }
  FAIL("no progress");
  return {};
}

std::string ip_of(const sockaddr_storage& ss) {
  char buf[64] = {};
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return buf;
}

}  // namespace

TEST_CASE("v1 TCP4 and TCP6 lines parse, read exactly up to their CRLF") {
  ProxyHeader h;
  std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  ProxyParse r = feed(line, h);
  REQUIRE(r.state == ProxyParse::State::kDone);
  CHECK(r.length == line.size());
  CHECK_FALSE(h.local);
  CHECK(ip_of(h.src) == "192.0.2.1");
  CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&h.src)->sin_port) == 56324);
  CHECK(ip_of(h.dst) == "198.51.100.2");
  r = feed("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", h);
  REQUIRE(r.state == ProxyParse::State::kDone);
  CHECK(ip_of(h.src) == "2001:db8::1");
  r = feed("PROXY UNKNOWN\r\n", h);
  REQUIRE(r.state == ProxyParse::State::kDone);
  CHECK(h.local);
}

TEST_CASE("malformed v1 lines are refused") {
  for (const char* bad : {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
                          "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
                          "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
                          "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                          "PROXY\rTCP4 1.2.3.4 5.6.7.8 1 2\r\n"}) {
    ProxyHeader h;
    CAPTURE(bad);
    CHECK(feed(bad, h).state == ProxyParse::State::kInvalid);
  }
  ProxyHeader h;
  std::string longline = "PROXY TCP4 " + std::string(200, '1') + "\r\n";
  CHECK(feed(longline, h).state == ProxyParse::State::kInvalid);
}

TEST_CASE("v2 headers round-trip through the builder, IPv4 and IPv6") {
  uint8_t buf[128];
  auto s4 = v4("203.0.113.7", 40000), d4 = v4("127.0.0.1", 8080);
  size_t n = build_proxy_v2(reinterpret_cast<sockaddr*>(&s4), reinterpret_cast<sockaddr*>(&d4), buf, sizeof buf);
  REQUIRE(n == 28);
  ProxyHeader h;
  ProxyParse r = feed(std::string(reinterpret_cast<char*>(buf), n), h);
  REQUIRE(r.state == ProxyParse::State::kDone);
  CHECK(ip_of(h.src) == "203.0.113.7");
  CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&h.src)->sin_port) == 40000);
  auto s6 = v6("2001:db8::7", 1), d6 = v6("::1", 2);
  n = build_proxy_v2(reinterpret_cast<sockaddr*>(&s6), reinterpret_cast<sockaddr*>(&d6), buf, sizeof buf);
  REQUIRE(n == 52);
  r = feed(std::string(reinterpret_cast<char*>(buf), n), h);
  REQUIRE(r.state == ProxyParse::State::kDone);
  CHECK(ip_of(h.src) == "2001:db8::7");
  // mixed families: LOCAL
  n = build_proxy_v2(reinterpret_cast<sockaddr*>(&s4), reinterpret_cast<sockaddr*>(&d6), buf, sizeof buf);
  REQUIRE(n == 16);
  r = feed(std::string(reinterpret_cast<char*>(buf), n), h);
  REQUIRE(r.state == ProxyParse::State::kDone);
  CHECK(h.local);
}

TEST_CASE("v1 builder output parses back") {
  char buf[128];
  auto s = v4("10.1.2.3", 1234), d = v4("10.0.0.1", 80);
  size_t n = build_proxy_v1(reinterpret_cast<sockaddr*>(&s), reinterpret_cast<sockaddr*>(&d), buf, sizeof buf);
  CHECK(std::string(buf, n) == "PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\n");
  CHECK(build_proxy_v1(reinterpret_cast<sockaddr*>(&s), reinterpret_cast<sockaddr*>(&d), buf, 10) == 0);
}

TEST_CASE("malformed v2 headers are refused") {
  uint8_t buf[64];
  auto s4 = v4("1.2.3.4", 1), d4 = v4("5.6.7.8", 2);
  size_t n = build_proxy_v2(reinterpret_cast<sockaddr*>(&s4), reinterpret_cast<sockaddr*>(&d4), buf, sizeof buf);
  auto mutate = [&](size_t i, uint8_t v) {
    std::string b(reinterpret_cast<char*>(buf), n);
    b[i] = static_cast<char>(v);
    ProxyHeader h;
    return feed(b, h).state;
  };
  CHECK(mutate(12, 0x31) == ProxyParse::State::kInvalid);  // version 3
  CHECK(mutate(12, 0x2F) == ProxyParse::State::kInvalid);  // command 15
  CHECK(mutate(13, 0x51) == ProxyParse::State::kInvalid);  // family 5
  CHECK(mutate(15, 4) == ProxyParse::State::kInvalid);     // IPv4 block too short
  CHECK(mutate(14, 0xFF) == ProxyParse::State::kInvalid);  // longer than allowed
  CHECK(mutate(3, 0x00) == ProxyParse::State::kInvalid);   // signature
}
