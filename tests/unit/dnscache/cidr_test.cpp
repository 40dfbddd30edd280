// The allow-list CIDR matcher.
#include "dns_test_support.hpp"

namespace portico::dnscache::test {

TEST_CASE("IPv4 networks match addresses inside the prefix only") {
  auto c = Cidr::parse("10.1.0.0/16");
  REQUIRE(c);
  CHECK(c->contains(addr("10.1.2.3", 1)));
  CHECK_FALSE(c->contains(addr("10.2.0.1", 1)));
  CHECK_FALSE(c->contains(addr("::1", 1)));
  auto odd = Cidr::parse("192.168.1.128/25");
  REQUIRE(odd);
  CHECK(odd->contains(addr("192.168.1.200", 1)));
  CHECK_FALSE(odd->contains(addr("192.168.1.127", 1)));
}

TEST_CASE("host bits of the network are ignored and a bare address is a host route") {
  auto c = Cidr::parse("127.0.0.1/8");
  REQUIRE(c);
  CHECK(c->contains(addr("127.9.9.9", 1)));
  auto host = Cidr::parse("192.0.2.7");
  REQUIRE(host);
  CHECK(host->prefix() == 32);
  CHECK(host->contains(addr("192.0.2.7", 1)));
  CHECK_FALSE(host->contains(addr("192.0.2.8", 1)));
}

TEST_CASE("IPv6 networks and IPv4-mapped clients") {
  auto c = Cidr::parse("2001:db8::/32");
  REQUIRE(c);
  CHECK(c->contains(addr("2001:db8:1::5", 1)));
  CHECK_FALSE(c->contains(addr("2001:db9::5", 1)));
  auto v4 = Cidr::parse("127.0.0.0/8");
  CHECK(v4->contains(addr("::ffff:127.0.0.1", 1)));
  CHECK_FALSE(v4->contains(addr("::1", 1)));
  auto all = Cidr::parse("::/0");
  CHECK(all->contains(addr("::1", 1)));
}

TEST_CASE("malformed networks are rejected") {
  CHECK_FALSE(Cidr::parse(""));
  CHECK_FALSE(Cidr::parse("10.0.0.0/33"));
  CHECK_FALSE(Cidr::parse("::/129"));
  CHECK_FALSE(Cidr::parse("10.0.0/8"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/8x"));
  CHECK_FALSE(Cidr::parse("example.com/8"));
}

}  // namespace portico::dnscache::test
