// Cache behaviour of the dnscache Engine: TTL countdown, clamps, negative caching,
// LRU eviction, serve-stale and prefetch.
#include "dns_test_support.hpp"

namespace portico::dnscache::test {

TEST_CASE("a cached answer is served without upstream and its TTL counts down") {
  Harness h;
  PktPtr first = h.resolve("www.example.com.", LDNS_RR_TYPE_A, {"www.example.com. 300 IN A 192.0.2.1"});
  CHECK(first_ttl(first.get()) == 300);
  h.now += 100s;
  h.ask("www.example.com.", LDNS_RR_TYPE_A, {.id = 77});
  PktPtr second = h.only_client_reply();
  CHECK(ldns_pkt_id(second.get()) == 77);
  CHECK(first_ttl(second.get()) == 200);
  CHECK(section(second.get(), LDNS_SECTION_ANSWER)[0] == "www.example.com. 200 IN A 192.0.2.1");
  CHECK(h.engine->stats().cache_hits == 1);
  CHECK(h.engine->stats().cache_misses == 1);
}

TEST_CASE("an expired entry is fetched again when serve-stale is off") {
  Options o = base_options();
  o.serve_stale = 0s;
  Harness h(o);
  h.resolve("a.example.com.", LDNS_RR_TYPE_A, {"a.example.com. 60 IN A 192.0.2.1"});
  h.now += 61s;
  h.ask("a.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("TTLs are clamped to min_ttl and max_ttl") {
  Options o = base_options();
  o.min_ttl = 60s;
  o.max_ttl = 600s;
  Harness h(o);
  PktPtr low = h.resolve("low.example.com.", LDNS_RR_TYPE_A, {"low.example.com. 5 IN A 192.0.2.1"});
  CHECK(first_ttl(low.get()) == 60);
  PktPtr high = h.resolve("high.example.com.", LDNS_RR_TYPE_A, {"high.example.com. 86400 IN A 192.0.2.2"});
  CHECK(first_ttl(high.get()) == 600);
  h.now += 30s;
  h.ask("low.example.com.", LDNS_RR_TYPE_A);
  CHECK(first_ttl(h.only_client_reply().get()) == 30);
}

TEST_CASE("the cache key is case-insensitive but separates type and DO") {
  Harness h;
  h.resolve("www.example.com.", LDNS_RR_TYPE_A, {"www.example.com. 300 IN A 192.0.2.1"});
  h.ask("WWW.EXAMPLE.COM.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToClient);
  h.ask("www.example.com.", LDNS_RR_TYPE_AAAA);
  h.only(SendKind::kToUpstreamUdp);
  h.ask("www.example.com.", LDNS_RR_TYPE_A, {.edns = true, .do_bit = true});
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("NXDOMAIN is cached for min(SOA TTL, SOA minimum) with the SOA counting down") {
  Harness h;
  const std::string soa = "example.com. 900 IN SOA ns.example.com. host.example.com. 1 7200 3600 1209600 300";
  PktPtr r = h.resolve("nope.example.com.", LDNS_RR_TYPE_A, {}, {soa}, {.rcode = LDNS_RCODE_NXDOMAIN});
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NXDOMAIN);
  CHECK(first_ttl(r.get(), LDNS_SECTION_AUTHORITY) == 300);
  h.now += 100s;
  h.ask("nope.example.com.", LDNS_RR_TYPE_A);
  PktPtr c = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(c.get()) == LDNS_RCODE_NXDOMAIN);
  CHECK(first_ttl(c.get(), LDNS_SECTION_AUTHORITY) == 200);
  h.now += 201s;  // expired: asks again (stale only when upstreams fail)
  h.ask("nope.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("NODATA is cached and the negative TTL is capped by negative_ttl") {
  Options o = base_options();
  o.negative_ttl = 60s;
  Harness h(o);
  const std::string soa = "example.com. 3600 IN SOA ns.example.com. host.example.com. 1 7200 3600 1209600 3600";
  PktPtr r = h.resolve("www.example.com.", LDNS_RR_TYPE_AAAA, {}, {soa});
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_ancount(r.get()) == 0);
  CHECK(first_ttl(r.get(), LDNS_SECTION_AUTHORITY) == 60);
  h.now += 59s;
  h.ask("www.example.com.", LDNS_RR_TYPE_AAAA);
  h.only(SendKind::kToClient);
}

TEST_CASE("a negative answer without SOA is not cached") {
  Harness h;
  h.resolve("x.example.com.", LDNS_RR_TYPE_A, {}, {}, {.rcode = LDNS_RCODE_NXDOMAIN});
  h.ask("x.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("the least recently used entry is evicted beyond max_entries") {
  Options o = base_options();
  o.max_entries = 2;
  Harness h(o);
  h.resolve("a.test.", LDNS_RR_TYPE_A, {"a.test. 300 IN A 192.0.2.1"});
  h.resolve("b.test.", LDNS_RR_TYPE_A, {"b.test. 300 IN A 192.0.2.2"});
  h.ask("a.test.", LDNS_RR_TYPE_A);  // a becomes most recent
  h.only(SendKind::kToClient);
  h.resolve("c.test.", LDNS_RR_TYPE_A, {"c.test. 300 IN A 192.0.2.3"});  // evicts b
  CHECK(h.engine->stats().evictions == 1);
  CHECK(h.engine->stats().cache_entries == 2);
  h.ask("a.test.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToClient);
  h.ask("c.test.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToClient);
  h.ask("b.test.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("an expired entry is served stale with TTL 30 when every upstream times out") {
  Options o = base_options();
  o.serve_stale = 3600s;
  Harness h(o);
  h.resolve("s.example.com.", LDNS_RR_TYPE_A, {"s.example.com. 60 IN A 192.0.2.9"});
  h.now += 120s;
  h.ask("s.example.com.", LDNS_RR_TYPE_A, {.id = 5});
  Send up = h.only(SendKind::kToUpstreamUdp);
  CHECK(h.out.next_wakeup == h.now + 1500ms);
  h.now += 1500ms;
  h.tick();  // first attempt times out: the waiting client gets the stale answer now
  REQUIRE(h.out.sends().size() == 2);
  const Send* to_client = nullptr;
  for (const Send& s : h.out.sends()) {
    if (s.kind == SendKind::kToClient) to_client = &s;
  }
  REQUIRE(to_client != nullptr);
  PktPtr stale = parse(to_client->bytes);
  CHECK(ldns_pkt_id(stale.get()) == 5);
  CHECK(section(stale.get(), LDNS_SECTION_ANSWER)[0] == "s.example.com. 30 IN A 192.0.2.9");
  CHECK(h.engine->stats().stale_answers == 1);
  CHECK(h.engine->stats().upstream_timeouts == 1);
  CHECK(h.out.released().size() == 1);
  CHECK(h.out.released()[0] == up.token);
  // Second upstream times out too: nobody left to answer, the refresh gives up.
  h.now += 1500ms;
  h.tick();
  CHECK(h.out.sends().empty());
  CHECK(h.engine->outstanding() == 0);
  CHECK(h.engine->stats().servfail == 0);
  // Shortly after a failed refresh, stale is answered at once (RFC 8767 4).
  h.now += 5s;
  h.ask("s.example.com.", LDNS_RR_TYPE_A);
  PktPtr again = h.only_client_reply();
  CHECK(first_ttl(again.get()) == 30);
}

TEST_CASE("stale is answered when upstreams return SERVFAIL, SERVFAIL without stale data") {
  Options o = base_options();
  o.serve_stale = 3600s;
  Harness h(o);
  h.resolve("s.example.com.", LDNS_RR_TYPE_A, {"s.example.com. 60 IN A 192.0.2.9"});
  h.now += 61s;
  h.ask("s.example.com.", LDNS_RR_TYPE_A);
  Send up1 = h.only(SendKind::kToUpstreamUdp);
  h.reply(up1, make_reply(up1.bytes, {}, {}, {.rcode = LDNS_RCODE_SERVFAIL}));
  Send up2 = h.only(SendKind::kToUpstreamUdp);
  CHECK(up2.upstream_index != up1.upstream_index);
  h.reply(up2, make_reply(up2.bytes, {}, {}, {.rcode = LDNS_RCODE_REFUSED}));
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NOERROR);
  CHECK(first_ttl(r.get()) == 30);

  h.ask("other.example.com.", LDNS_RR_TYPE_A);
  up1 = h.only(SendKind::kToUpstreamUdp);
  h.reply(up1, make_reply(up1.bytes, {}, {}, {.rcode = LDNS_RCODE_SERVFAIL}));
  up2 = h.only(SendKind::kToUpstreamUdp);
  h.reply(up2, make_reply(up2.bytes, {}, {}, {.rcode = LDNS_RCODE_SERVFAIL}));
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_SERVFAIL);
  CHECK(h.engine->stats().servfail == 1);
}

TEST_CASE("entries beyond the serve-stale window are not served") {
  Options o = base_options();
  o.serve_stale = 100s;
  Harness h(o);
  h.resolve("s.example.com.", LDNS_RR_TYPE_A, {"s.example.com. 60 IN A 192.0.2.9"});
  h.now += 161s;
  h.ask("s.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
  h.now += 1500ms;
  h.tick();
  h.only(SendKind::kToUpstreamUdp);
  h.now += 1500ms;
  h.tick();
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_SERVFAIL);
}

TEST_CASE("a popular entry is prefetched in the last 10% of its TTL while hits continue") {
  Options o = base_options();
  o.prefetch_min_hits = 2;
  Harness h(o);
  h.resolve("p.example.com.", LDNS_RR_TYPE_A, {"p.example.com. 100 IN A 192.0.2.1"});
  h.now += 50s;
  h.ask("p.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToClient);  // one hit, too early anyway
  h.now += 45s;                 // 5 s left of 100
  h.ask("p.example.com.", LDNS_RR_TYPE_A, {.id = 9});
  REQUIRE(h.out.sends().size() == 2);
  CHECK(h.out.sends()[0].kind == SendKind::kToClient);
  CHECK(h.out.sends()[1].kind == SendKind::kToUpstreamUdp);
  CHECK(h.engine->stats().prefetches == 1);
  Send up = h.out.sends()[1];
  h.ask("p.example.com.", LDNS_RR_TYPE_A);  // still answered from cache, no second prefetch
  h.only(SendKind::kToClient);
  h.reply(up, make_reply(up.bytes, {"p.example.com. 100 IN A 192.0.2.7"}));
  CHECK(h.out.sends().empty());  // nobody waited
  h.now += 20s;                  // old entry would have expired
  h.ask("p.example.com.", LDNS_RR_TYPE_A);
  PktPtr r = h.only_client_reply();
  CHECK(section(r.get(), LDNS_SECTION_ANSWER)[0] == "p.example.com. 80 IN A 192.0.2.7");
}

TEST_CASE("an unpopular entry is not prefetched") {
  Options o = base_options();
  o.prefetch_min_hits = 5;
  Harness h(o);
  h.resolve("p.example.com.", LDNS_RR_TYPE_A, {"p.example.com. 100 IN A 192.0.2.1"});
  h.now += 95s;
  h.ask("p.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToClient);
}

}  // namespace portico::dnscache::test

namespace portico::dnscache::test {
namespace {

// A response for `name` A as the engine would cache it (question in `name`'s case).
Response cached_response(const std::string& name) {
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_qr(p.get(), true);
  ldns_rr* q = nullptr;
  REQUIRE(ldns_rr_new_question_frm_str(&q, (name + " IN A").c_str(), nullptr, nullptr) == LDNS_STATUS_OK);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, q);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, rr(name + " 300 IN A 192.0.2.1"));
  Response r;
  REQUIRE(response_from_pkt(p.get(), r));
  return r;
}

// "<prefix><i>.test.", built by appending: GCC 12 warns (-Wrestrict, a false
// positive) on `"literal" + std::to_string(i)` at -O2.
std::string test_name(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  s += ".test.";
  return s;
}

QuestionKey key_for(const std::string& name, uint8_t flags = 0) {
  RdfPtr n(ldns_dname_new_frm_str(name.c_str()));
  REQUIRE(n != nullptr);
  QuestionKey k;
  for (size_t i = 0; i < ldns_rdf_size(n.get()); ++i) k.name.push_back(static_cast<char>(ascii_lower(ldns_rdf_data(n.get())[i])));
  k.type = LDNS_RR_TYPE_A;
  k.klass = LDNS_RR_CLASS_IN;
  k.flags = flags;
  return k;
}

}  // namespace

TEST_CASE("the cache index finds every live entry through inserts, expiry erases and evictions") {
  Cache c(100000, size_t{1} << 30);
  const Time t0 = std::chrono::seconds(10);
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    const std::string name = test_name("n", i);
    c.insert(key_for(name), cached_response(name), 1 + i % 7, t0);
  }
  REQUIRE(c.size() == n);
  // At t0 + 4 s every entry with TTL <= 4 is expired and erased on lookup (no
  // stale window); the others must all still be found, before and after.
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < n; ++i) {
      const QuestionKey k = key_for(test_name("n", i));
      CacheEntry* e = c.find(k, t0 + std::chrono::seconds(4), Time::zero());
      if (1 + i % 7 <= 4) {
        CHECK(e == nullptr);
      } else {
        REQUIRE(e != nullptr);
        CHECK(e->key == k);
      }
    }
  }
  CHECK(c.size() == static_cast<size_t>(n - (n / 7) * 4 - std::min(n % 7, 4)));
  // The same name with DO or in upper case in the response is its own / the same entry.
  CHECK(c.find(key_for("n5.test.", kKeyDo), t0, Time::zero()) == nullptr);
  c.insert(key_for("n5.test.", kKeyDo), cached_response("N5.TEST."), 300, t0);
  CacheEntry* upper = c.find(key_for("n5.test.", kKeyDo), t0, Time::zero());
  REQUIRE(upper != nullptr);
  CHECK(upper->key.flags == kKeyDo);
  CHECK(c.find(key_for("n5.test."), t0, Time::zero()) != upper);
  // A response whose question is another name is not stored under this key.
  const size_t before = c.size();
  c.insert(key_for("other.test."), cached_response("n6.test."), 300, t0);
  CHECK(c.size() == before);
  CHECK(c.find(key_for("other.test."), t0, Time::zero()) == nullptr);
}

TEST_CASE("the cache evicts in LRU order at max_entries, hits keeping entries alive") {
  Cache c(100, size_t{1} << 30);
  const Time t0 = std::chrono::seconds(10);
  auto name = [](int i) { return test_name("e", i); };
  for (int i = 0; i < 1000; ++i) {
    c.insert(key_for(name(i)), cached_response(name(i)), 300, t0);
    if (i >= 1) REQUIRE(c.find(key_for(name(0)), t0, Time::zero()) != nullptr);  // 0 stays popular
  }
  CHECK(c.size() == 100);
  CHECK(c.evictions() == 900);
  CHECK(c.find(key_for(name(0)), t0, Time::zero()) != nullptr);
  for (int i = 901; i < 1000; ++i) CHECK(c.find(key_for(name(i)), t0, Time::zero()) != nullptr);
  for (int i = 1; i < 900; ++i) CHECK(c.find(key_for(name(i)), t0, Time::zero()) == nullptr);
}

}  // namespace portico::dnscache::test
