#include <doctest/doctest.h>

#include "proxy/upstream/endpoint_set.hpp"
#include "proxy/upstream/hash.hpp"
#include "proxy/upstream/health_table.hpp"
#include "upstream_test_util.hpp"

#include <arpa/inet.h>

using namespace portico;
using namespace portico::upstream;
using namespace portico::upstream::test;

TEST_CASE("endpoint set groups priorities, dedupes addresses and clamps weights") {
  std::string err;
  auto s = EndpointSet::build({{addr(1), 0, 1}, {addr(2), 3, 0}, {addr(1), 5, 0}, {addr(3), 99999, 1}},
                              &err);
  REQUIRE(s);
  REQUIRE(s->size() == 3);
  CHECK(s->key(0) == "127.0.0.1:1");
  CHECK((*s)[0].weight == 1);
  CHECK((*s)[2].weight == EndpointSet::kMaxWeight);
  REQUIRE(s->levels().size() == 2);
  CHECK(s->levels()[0].priority == 0);
  CHECK(s->levels()[0].members == std::vector<uint32_t>{1});
  CHECK(s->levels()[1].members == std::vector<uint32_t>{0, 2});
  CHECK(s->find(addr(3)) == 2u);
  CHECK_FALSE(s->find(addr(4)));
  CHECK_FALSE(s->equal_weights());
}

TEST_CASE("endpoint set refuses more endpoints than its limit") {
  std::string err;
  CHECK_FALSE(EndpointSet::build({{addr(1)}, {addr(2)}, {addr(3)}}, &err, 2));
  CHECK(err.find("limit") != std::string::npos);
  auto empty = EndpointSet::build({}, &err);
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(empty->levels().empty());
}

TEST_CASE("endpoint set from a cluster config") {
  conf::Cluster c;
  c.endpoints.push_back({addr(80), 2, 0});
  c.endpoints.push_back({addr(81), 1, 3});
  std::string err;
  auto s = EndpointSet::from_cluster(c, &err);
  REQUIRE(s);
  CHECK(s->size() == 2);
  CHECK((*s)[1].priority == 3);
}

TEST_CASE("health table: active bit, ejection until a time, reasons") {
  HealthTable t(3);
  const uint64_t v0 = t.version();
  CHECK(t.available(0, kT0));
  t.set_active(0, false, kT0, "status 503 not expected");
  CHECK(t.version() > v0);
  CHECK_FALSE(t.available(0, kT0));
  CHECK(t.reason(0) == "status 503 not expected");
  t.set_active(0, true, kT0 + kNsPerSec, "status 200");
  CHECK(t.available(0, kT0 + kNsPerSec));
  CHECK(HealthTable::word_available_for(t.word(0), kT0 + 3 * kNsPerSec) == 2 * kNsPerSec);

  t.eject(1, kT0, kT0 + 30 * kNsPerSec);
  CHECK_FALSE(t.available(1, kT0));
  CHECK_FALSE(t.available(1, kT0 + 30 * kNsPerSec - 1));
  CHECK(t.available(1, kT0 + 30 * kNsPerSec));
  CHECK(HealthTable::word_ejected_until(t.word(1), kT0) == kT0 + 30 * kNsPerSec);
  CHECK(t.ejected_count(kT0) == 1);
  CHECK(t.ejected_count(kT0 + 31 * kNsPerSec) == 0);
  // after the ejection, the end is the recovery time (slow start)
  CHECK(HealthTable::word_available_for(t.word(1), kT0 + 35 * kNsPerSec) == 5 * kNsPerSec);
  t.maintain(kT0 + 40 * kNsPerSec);
  CHECK((t.word(1) & HealthTable::kEjected) == 0);
  // unchanged writes do not bump the version
  uint64_t v = t.version();
  t.set_active(2, true, kT0, "ok");
  CHECK(t.version() == v);
  // out of range writes are ignored
  t.set_active(7, false, kT0, "x");
  t.eject(7, kT0, kT0 + kNsPerSec);
  CHECK(t.reason(7).empty());
}

TEST_CASE("health table ticks survive the 30-bit wrap") {
  // a time whose tick field is just below the wrap point
  const TimeNs near_wrap = static_cast<TimeNs>(HealthTable::kTickMask) * HealthTable::kTickNs * 3 +
                           (HealthTable::kTickMask - 5) * HealthTable::kTickNs;
  HealthTable t(1);
  t.eject(0, near_wrap, near_wrap + 20 * kNsPerMs);
  CHECK_FALSE(t.available(0, near_wrap + 10 * kNsPerMs));
  CHECK(t.available(0, near_wrap + 20 * kNsPerMs));
}

TEST_CASE("health table carries state over to a new endpoint set by address") {
  auto old_set = make_set_ports({1, 2, 3});
  HealthTable old_t(3);
  old_t.set_active(1, false, kT0, "down");
  old_t.eject(2, kT0, kT0 + 10 * kNsPerSec);
  auto new_set = make_set_ports({3, 4, 2});
  HealthTable t(3);
  t.carry_over(*old_set, old_t, *new_set);
  CHECK_FALSE(t.available(0, kT0));  // port 3: ejected
  CHECK(t.available(1, kT0));        // port 4: new
  CHECK_FALSE(t.available(2, kT0));  // port 2: down
  CHECK(t.reason(2) == "down");
}

TEST_CASE("hash helpers: client ip ignores the port, v4-mapped equals v4, cookies") {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.7", &a.sin_addr);
  a.sin_port = htons(1000);
  sockaddr_in b = a;
  b.sin_port = htons(2000);
  sockaddr_in6 m{};
  m.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.7", &m.sin6_addr);
  sockaddr_in c = a;
  inet_pton(AF_INET, "127.0.0.8", &c.sin_addr);
  auto h = [](const auto& s) { return hash_client_ip(reinterpret_cast<const sockaddr*>(&s)); };
  CHECK(h(a) == h(b));
  CHECK(h(a) == h(m));
  CHECK(h(a) != h(c));
  CHECK(hash_client_ip(nullptr) == 0);

  CHECK(find_cookie("a=1; sid=xyz; b=2", "sid") == std::string_view("xyz"));
  CHECK(find_cookie("sid=first;sid=second", "sid") == std::string_view("first"));
  CHECK(find_cookie("xsid=1; sid = v ", "sid") == std::string_view("v"));
  CHECK_FALSE(find_cookie("a=1; b", "b"));
  CHECK_FALSE(find_cookie("", "a"));
  CHECK_FALSE(find_cookie("a=1", ""));
  CHECK(hash_string("abc") != hash_string("abd"));
  CHECK(hash_string("abc") == hash_bytes("abc", 3));
}
