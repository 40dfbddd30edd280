#include <doctest/doctest.h>

#include "mdns/rate_limiter.hpp"
#include "tests/unit/mdns/solo.hpp"

using namespace portico::mdns;
using namespace portico::mdns::test;

namespace {

const IpAddress kPeer = IpAddress::v4(127, 0, 0, 9);

void establish(Solo& s) {
  s.start(kT0);
  s.run(at(3000));
  REQUIRE(s.engine.established());
  s.sent.clear();
}

std::vector<uint8_t> a_query() { return query_bytes("portico.local", rrtype::kA); }

std::vector<uint8_t> conflicting_response() {
  return response_bytes({Record{N("portico.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 9}}});
}

}  // namespace

TEST_CASE("queries from port 5353 need TTL 255; legacy queries do not") {
  Solo s(web_host());
  establish(s);
  Source src = mdns_source(kPeer);
  src.ttl = 64;
  s.feed(a_query(), src, at(5000));
  src.ttl = -1;  // unknown is not 255 either
  s.feed(a_query(), src, at(5001));
  CHECK(s.sent.empty());
  CHECK(s.engine.stats().dropped_ttl == 2);
  src.from.port = 12345;  // legacy unicast
  src.ttl = 3;
  s.feed(a_query(), src, at(5002));
  CHECK(s.sent.size() == 1);
}

TEST_CASE("responses need source port 5353 and TTL 255") {
  Solo s(web_host());
  establish(s);
  Source src = mdns_source(kPeer);
  src.from.port = 5300;
  s.feed(conflicting_response(), src, at(5000));
  CHECK(s.engine.stats().dropped_source_port == 1);
  src = mdns_source(kPeer);
  src.ttl = 254;
  s.feed(conflicting_response(), src, at(5000));
  CHECK(s.engine.stats().dropped_ttl == 1);
  CHECK(s.engine.hostname() == "portico");  // neither was taken as a conflict
  s.feed(conflicting_response(), mdns_source(kPeer), at(5000));
  CHECK(s.engine.hostname() == "portico-2");  // control: the same packet, accepted
}

TEST_CASE("off-link sources and unknown interfaces are ignored") {
  Solo s(web_host());
  establish(s);
  Source src = mdns_source(kPeer);
  src.on_link = false;
  s.feed(a_query(), src, at(5000));
  CHECK(s.engine.stats().dropped_off_link == 1);
  s.feed(a_query(), mdns_source(kPeer, 42), at(5000));
  CHECK(s.engine.stats().dropped_unknown_interface == 1);
  CHECK(s.sent.empty());
}

TEST_CASE("non-zero opcode or rcode is dropped") {
  Solo s(web_host());
  establish(s);
  auto q = a_query();
  q[2] |= 0x10;  // opcode 2 (STATUS)
  s.feed(q, mdns_source(kPeer), at(5000));
  q = a_query();
  q[3] |= 0x03;  // rcode NXDOMAIN
  s.feed(q, mdns_source(kPeer), at(5000));
  CHECK(s.engine.stats().dropped_opcode_rcode == 2);
  CHECK(s.sent.empty());
}

TEST_CASE("malformed packets are dropped without effect") {
  Solo s(web_host());
  establish(s);
  auto good = a_query();
  std::vector<std::vector<uint8_t>> bad = {
      {},
      {0x00},
      std::vector<uint8_t>(11, 0),
      std::vector<uint8_t>(good.begin(), good.end() - 3),                       // truncated question
      {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1},                // pointer loop
      {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, 'a', 0, 0, 1, 0, 1},             // label > 63
      {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1},  // rdlength past end
      {0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0},                                // counts lie
  };
  for (const auto& b : bad) s.feed(b, mdns_source(kPeer), at(5000));
  CHECK(s.engine.stats().dropped_malformed == bad.size());
  CHECK(s.sent.empty());
  s.feed(good, mdns_source(kPeer), at(5000));
  CHECK(s.sent.size() == 1);  // still healthy
}

TEST_CASE("per-source rate limit against floods") {
  Options o = web_host();
  o.limits.rate_burst = 5;
  o.limits.rate_per_second = 1;
  Solo s(o);
  s.start(kT0);
  for (int i = 0; i < 10; ++i) s.feed(a_query(), mdns_source(kPeer), at(5000));
  CHECK(s.engine.stats().dropped_rate_limited == 5);
  s.feed(a_query(), mdns_source(IpAddress::v4(127, 0, 0, 10)), at(5000));  // other source unaffected
  CHECK(s.engine.stats().dropped_rate_limited == 5);
  s.feed(a_query(), mdns_source(kPeer), at(6000));  // one token back after a second
  CHECK(s.engine.stats().dropped_rate_limited == 5);
  s.feed(a_query(), mdns_source(kPeer), at(6000));
  CHECK(s.engine.stats().dropped_rate_limited == 6);
}

TEST_CASE("rate limiter tracks a bounded number of sources") {
  RateLimiter rl(4, 1, 1);
  for (uint8_t i = 0; i < 50; ++i) CHECK(rl.allow(IpAddress::v4(127, 0, 1, i), at(i)));
  CHECK(rl.tracked() == 4);
  CHECK_FALSE(rl.allow(IpAddress::v4(127, 0, 1, 49), at(49)));
}

TEST_CASE("options validation") {
  CHECK(validate(web_host()).empty());
  Options o = web_host();
  o.hostname = "a.b";
  CHECK_FALSE(validate(o).empty());
  o = web_host();
  o.services[0].type = "http";
  CHECK_FALSE(validate(o).empty());
  o = web_host();
  o.browse = {"_http._sctp"};
  CHECK_FALSE(validate(o).empty());
  o = web_host();
  o.services[0].instance = std::string(64, 'x');
  CHECK_FALSE(validate(o).empty());
}
