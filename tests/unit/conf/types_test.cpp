// Value parsers of conf/types.hpp: durations, sizes, addresses, CIDRs.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>

#include "conf/types.hpp"

using namespace portico::conf;
using namespace std::chrono_literals;

TEST_CASE("parse_duration accepts every unit and a bare number as seconds") {
  CHECK(parse_duration("250ms") == Duration(250ms));
  CHECK(parse_duration("10s") == Duration(10s));
  CHECK(parse_duration("5m") == Duration(5min));
  CHECK(parse_duration("1h") == Duration(1h));
  CHECK(parse_duration("1d") == Duration(24h));
  CHECK(parse_duration("1500us") == Duration(1500us));
  CHECK(parse_duration("20ns") == Duration(20ns));
  CHECK(parse_duration("30") == Duration(30s));
  CHECK(parse_duration("0") == Duration::zero());
  CHECK(parse_duration("0s") == Duration::zero());
}

TEST_CASE("parse_duration rejects negatives, garbage, fractions and overflow") {
  for (const char* bad : {"", "-1s", "-5", "abc", "s", "10 s", " 10s", "10s ", "1.5s", "10sec",
                          "10S", "1e3", "+5s", "10ms5", "0x10"})
    CHECK_MESSAGE(!parse_duration(bad), bad);
  // int64 nanoseconds hold ~292 years: 106751d fits, 106752d does not.
  CHECK(parse_duration("106751d").has_value());
  CHECK_FALSE(parse_duration("106752d"));
  CHECK_FALSE(parse_duration("9223372036854775808ns"));
  CHECK(parse_duration("9223372036854775807ns") == Duration(INT64_MAX));
  CHECK_FALSE(parse_duration("99999999999999999999999s"));
}

TEST_CASE("parse_size accepts plain bytes and binary units") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("16KiB") == 16u * 1024);
  CHECK(parse_size("10MiB") == 10u * 1024 * 1024);
  CHECK(parse_size("1GiB") == 1024ull * 1024 * 1024);
  CHECK(parse_size("2k") == 2048u);
  CHECK(parse_size("2K") == 2048u);
  CHECK(parse_size("2KB") == 2048u);
  CHECK(parse_size("3M") == 3u * 1024 * 1024);
  CHECK(parse_size("3MB") == 3u * 1024 * 1024);
  CHECK(parse_size("1G") == 1024ull * 1024 * 1024);
  CHECK(parse_size("1GB") == 1024ull * 1024 * 1024);
  CHECK(parse_size("1TiB") == 1024ull * 1024 * 1024 * 1024);
  CHECK(parse_size("7B") == 7u);
}

TEST_CASE("parse_size rejects garbage and overflow") {
  for (const char* bad : {"", "-1", "abc", "KiB", "1 KiB", "1kib", "1.5MiB", "1XB", "1PiB"})
    CHECK_MESSAGE(!parse_size(bad), bad);
  CHECK(parse_size("18446744073709551615") == UINT64_MAX);
  CHECK_FALSE(parse_size("18446744073709551616"));
  CHECK(parse_size("16777215TiB").has_value());
  CHECK_FALSE(parse_size("16777216TiB"));  // 2^24 * 2^40 = 2^64
  CHECK_FALSE(parse_size("17179869184GiB"));
}

TEST_CASE("parse_address reads IPv4, bracketed IPv6 and unix paths") {
  auto v4 = parse_address("127.0.0.1:8080");
  REQUIRE(v4);
  CHECK(v4->family() == AF_INET);
  CHECK(v4->port() == 8080);
  CHECK(v4->len == sizeof(sockaddr_in));
  CHECK(v4->str() == "127.0.0.1:8080");

  auto v6 = parse_address("[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->family() == AF_INET6);
  CHECK(v6->port() == 8080);
  CHECK(v6->len == sizeof(sockaddr_in6));
  CHECK(v6->str() == "[::1]:8080");
  CHECK(parse_address("[2001:db8::0001]:65535")->str() == "[2001:db8::1]:65535");

  auto ux = parse_address("unix:/run/app.sock");
  REQUIRE(ux);
  CHECK(ux->family() == AF_UNIX);
  CHECK(ux->port() == 0);
  CHECK(ux->unix_path() == "/run/app.sock");
  CHECK(ux->str() == "unix:/run/app.sock");
  CHECK(ux->len == offsetof(sockaddr_un, sun_path) + strlen("/run/app.sock") + 1);
}

TEST_CASE("parse_address refuses what it cannot bind and says why") {
  std::string why;
  auto bad = [&](const char* s) {
    why.clear();
    return !parse_address(s, &why).has_value();
  };
  CHECK(bad("127.0.0.1"));
  CHECK(why == "missing port");
  CHECK(bad("127.0.0.1:"));
  CHECK(why == "missing port");
  CHECK(bad("127.0.0.1:0"));
  CHECK(why == "port 0 is not allowed");
  CHECK(bad("127.0.0.1:65536"));
  CHECK(why == "port 65536 is out of range 1..65535");
  CHECK(bad("127.0.0.1:99999999999999999999999"));
  CHECK(bad("127.0.0.1:-1"));
  CHECK(why == "port '-1' is not a number");
  CHECK(bad("localhost:80"));
  CHECK(why == "'localhost' is not an IP address (host names are not resolved here)");
  CHECK(bad("example.com:443"));
  CHECK(bad("::1:80"));  // IPv6 with a port needs brackets
  CHECK(bad("[::1]"));
  CHECK(why == "missing port");
  CHECK(bad("[::1"));
  CHECK(why == "missing ']' after IPv6 address");
  CHECK(bad("[127.0.0.1]:80"));  // brackets are for IPv6 only
  CHECK(bad("[::1]x80"));
  CHECK(bad("256.0.0.1:80"));
  CHECK(why == "'256.0.0.1' is not a valid IP address");
  CHECK(bad(":80"));
  CHECK(why == "missing IP address");
  CHECK(bad(""));
  CHECK(bad("unix:"));
  CHECK(why == "empty unix socket path");
  std::string longest(sizeof(sockaddr_un::sun_path) - 1, 'a');
  CHECK(parse_address("unix:" + longest).has_value());
  CHECK(bad(("unix:" + longest + "a").c_str()));
  CHECK(why == "unix socket path is too long (108 bytes, at most 107)");
}

TEST_CASE("Address equality compares family, address and port") {
  CHECK(*parse_address("127.0.0.1:80") == *parse_address("127.0.0.1:80"));
  CHECK_FALSE(*parse_address("127.0.0.1:80") == *parse_address("127.0.0.1:81"));
  CHECK_FALSE(*parse_address("127.0.0.1:80") == *parse_address("127.0.0.2:80"));
  CHECK(*parse_address("[::1]:80") == *parse_address("[0::1]:80"));
  CHECK_FALSE(*parse_address("[::1]:80") == *parse_address("127.0.0.1:80"));
  CHECK(*parse_address("unix:/a") == *parse_address("unix:/a"));
  CHECK_FALSE(*parse_address("unix:/a") == *parse_address("unix:/b"));
}

TEST_CASE("parse_ip_port takes a default port") {
  CHECK(parse_ip_port("10.0.0.1", 53)->str() == "10.0.0.1:53");
  CHECK(parse_ip_port("10.0.0.1:5353", 53)->str() == "10.0.0.1:5353");
  CHECK(parse_ip_port("::1", 53)->str() == "[::1]:53");
  CHECK(parse_ip_port("[::1]", 53)->str() == "[::1]:53");
  CHECK(parse_ip_port("[::1]:54", 53)->str() == "[::1]:54");
  CHECK_FALSE(parse_ip_port("10.0.0.1:0", 53));
  CHECK_FALSE(parse_ip_port("10.0.0.1", 0));
  CHECK_FALSE(parse_ip_port("dns.example:53", 53));
  CHECK_FALSE(parse_ip_port("unix:/x", 53));
  CHECK_FALSE(parse_ip_port("10.0.0.1:70000", 53));
}

namespace {
sockaddr_storage sa_of(const char* ip) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, ip, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else {
    REQUIRE(inet_pton(AF_INET6, ip, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1);
    ss.ss_family = AF_INET6;
  }
  return ss;
}
bool in(const char* net, const char* ip) {
  auto c = parse_cidr(net);
  REQUIRE(c);
  auto ss = sa_of(ip);
  return c->contains(reinterpret_cast<const sockaddr*>(&ss));
}
}  // namespace

TEST_CASE("parse_cidr reads networks and host routes, clearing host bits") {
  CHECK(parse_cidr("10.0.0.0/8")->str() == "10.0.0.0/8");
  CHECK(parse_cidr("10.1.2.3/8")->str() == "10.0.0.0/8");
  CHECK(parse_cidr("192.168.1.77/27")->str() == "192.168.1.64/27");
  CHECK(parse_cidr("127.0.0.1")->str() == "127.0.0.1/32");
  CHECK(parse_cidr("::1")->str() == "::1/128");
  CHECK(parse_cidr("2001:db8::ff/32")->str() == "2001:db8::/32");
  CHECK(parse_cidr("0.0.0.0/0")->str() == "0.0.0.0/0");
  CHECK(parse_cidr("::/0")->prefix == 0);
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8",
                          "example.com/8", "10.0.0.0/8/8", "10.0.0.0/0008", "/8"})
    CHECK_MESSAGE(!parse_cidr(bad), bad);
}

TEST_CASE("Cidr::contains matches prefixes, including v4-mapped v6 clients") {
  CHECK(in("10.0.0.0/8", "10.255.1.2"));
  CHECK_FALSE(in("10.0.0.0/8", "11.0.0.1"));
  CHECK(in("192.168.1.64/27", "192.168.1.95"));
  CHECK_FALSE(in("192.168.1.64/27", "192.168.1.96"));
  CHECK(in("0.0.0.0/0", "203.0.113.9"));
  CHECK(in("127.0.0.1", "127.0.0.1"));
  CHECK_FALSE(in("127.0.0.1", "127.0.0.2"));
  CHECK(in("::1/128", "::1"));
  CHECK_FALSE(in("::1/128", "::2"));
  CHECK(in("2001:db8::/32", "2001:db8:1::5"));
  CHECK_FALSE(in("2001:db8::/32", "2001:db9::5"));
  // A dual-stack socket sees v4 clients as ::ffff:a.b.c.d.
  CHECK(in("127.0.0.0/8", "::ffff:127.0.0.1"));
  CHECK_FALSE(in("127.0.0.0/8", "::ffff:128.0.0.1"));
  CHECK_FALSE(in("127.0.0.0/8", "::127.0.0.1"));  // v4-compatible, not mapped
  CHECK_FALSE(in("0.0.0.0/0", "::1"));
  // And a v6 network written in mapped form matches plain v4 clients.
  CHECK(in("::ffff:10.0.0.0/104", "10.1.1.1"));
  CHECK_FALSE(in("::1/128", "127.0.0.1"));
  auto c = parse_cidr("10.0.0.0/8");
  CHECK_FALSE(c->contains(nullptr));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK_FALSE(c->contains(reinterpret_cast<const sockaddr*>(&un)));
}
