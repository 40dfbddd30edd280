// The allocation-free query reader of the cache-hit path (read_plain_query):
// it agrees with ldns on every query it accepts, refuses every other shape, and
// cache hits read through it keep the client's case, count TTLs down, separate
// DO, honour the EDNS size and answer the shapes it refuses through ldns.
#include <random>
#include <string>

#include "dns_test_support.hpp"

namespace portico::dnscache::test {
namespace {

// A query with an OPT record carrying `options` (raw option TLV bytes).
std::vector<uint8_t> query_with_opt(const std::string& name, uint16_t udp_size, bool do_bit,
                                    std::vector<uint8_t> options, uint8_t version = 0) {
  std::vector<uint8_t> q = make_query(name, LDNS_RR_TYPE_A, {.id = 0x4242});
  const std::vector<uint8_t> opt = bytes_of({0, 0, 41, udp_size >> 8, udp_size & 0xff, 0, version,
                                             do_bit ? 0x80 : 0, 0, static_cast<int>(options.size() >> 8),
                                             static_cast<int>(options.size() & 0xff)});
  q.insert(q.end(), opt.begin(), opt.end());
  q.insert(q.end(), options.begin(), options.end());
  q[11] = 1;  // ARCOUNT
  return q;
}

// Field-by-field equality of what the engine reads from a query.
void check_same(const ClientQuery& a, const ClientQuery& b) {
  CHECK(a.id == b.id);
  CHECK(a.opcode == b.opcode);
  CHECK(a.rd == b.rd);
  CHECK(a.cd == b.cd);
  CHECK(a.ad == b.ad);
  CHECK(a.transport == b.transport);
  CHECK(a.has_question == b.has_question);
  CHECK(a.has_edns == b.has_edns);
  CHECK(a.do_bit == b.do_bit);
  CHECK(a.edns_version == b.edns_version);
  CHECK(a.reply_limit == b.reply_limit);
  if (a.has_question && b.has_question) {
    CHECK(a.qtype == b.qtype);
    CHECK(a.qclass == b.qclass);
    REQUIRE(a.qname_len == b.qname_len);
    CHECK(std::equal(a.qname.begin(), a.qname.begin() + a.qname_len, b.qname.begin()));
  }
}

std::vector<std::vector<uint8_t>> plain_corpus() {
  std::vector<std::vector<uint8_t>> c;
  c.push_back(make_query("www.example.com.", LDNS_RR_TYPE_A));
  c.push_back(make_query("WwW.ExAmPlE.CoM.", LDNS_RR_TYPE_AAAA, {.id = 7, .rd = false}));
  c.push_back(make_query(".", LDNS_RR_TYPE_NS, {.cd = true, .ad = true}));
  c.push_back(make_query("n1.bench.test.", LDNS_RR_TYPE_A, {.edns = true, .udp_size = 1232}));
  c.push_back(make_query("n1.bench.test.", LDNS_RR_TYPE_A, {.edns = true, .udp_size = 4096, .do_bit = true}));
  c.push_back(make_query("x.example.", LDNS_RR_TYPE_TXT, {.edns = true, .udp_size = 512, .cd = true}));
  c.push_back(query_with_opt("c.example.", 1400, false, bytes_of({0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})));
  c.push_back(query_with_opt("c.example.", 1232, true, bytes_of({0, 10, 0, 0, 0, 12, 0, 2, 0, 0})));
  // Names at the length limits: 63-byte labels, 255 bytes in all.
  const std::string l63(63, 'a');
  c.push_back(make_query(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b') + ".", LDNS_RR_TYPE_A));
  return c;
}

}  // namespace

TEST_CASE("the plain reader takes common queries and agrees with ldns on them") {
  for (const auto& q : plain_corpus()) {
    for (Transport t : {Transport::kUdp, Transport::kTcp}) {
      ClientQuery fast, slow;
      CHECK(read_plain_query(q, t, 1232, fast));
      CHECK(parse_client_query(q, t, 1232, 4096, fast) == QueryCheck::kOk);
      CHECK(parse_client_query_ldns(q, t, 1232, 4096, slow) == QueryCheck::kOk);
      check_same(fast, slow);
    }
  }
}

TEST_CASE("the plain reader refuses every other shape and leaves it to ldns") {
  ClientQuery q;
  const std::vector<uint8_t> base = make_query("www.example.com.", LDNS_RR_TYPE_A);
  SUBCASE("two questions") {
    PktPtr p(ldns_pkt_query_new(ldns_dname_new_frm_str("a.example."), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD));
    ldns_rr* q2 = nullptr;
    REQUIRE(ldns_rr_new_question_frm_str(&q2, "b.example. IN A", nullptr, nullptr) == LDNS_STATUS_OK);
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, q2);
    CHECK_FALSE(read_plain_query(to_wire(p.get()), Transport::kUdp, 1232, q));
  }
  SUBCASE("compression pointer in the question") {
    CHECK_FALSE(read_plain_query(bytes_of({1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1}),
                                 Transport::kUdp, 1232, q));
  }
  SUBCASE("extended label type") {
    CHECK_FALSE(read_plain_query(bytes_of({1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1}),
                                 Transport::kUdp, 1232, q));
  }
  SUBCASE("a name longer than 255 bytes") {
    std::vector<uint8_t> w = bytes_of({1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
    for (int i = 0; i < 4; ++i) {
      w.push_back(63);
      w.insert(w.end(), 63, 'a');
    }
    w.insert(w.end(), {0, 0, 1, 0, 1});
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
  }
  SUBCASE("trailing bytes") {
    std::vector<uint8_t> w = base;
    w.push_back(0);
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
  }
  SUBCASE("truncated question") {
    std::vector<uint8_t> w(base.begin(), base.end() - 1);
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
  }
  SUBCASE("answer or authority records") {
    std::vector<uint8_t> w = base;
    w[7] = 1;
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
    w[7] = 0;
    w[9] = 1;
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
  }
  SUBCASE("EDNS version 1, a small UDP size, a non-root OPT owner, bad options, two OPTs") {
    CHECK_FALSE(read_plain_query(query_with_opt("a.example.", 1232, false, {}, 1), Transport::kUdp, 1232, q));
    CHECK_FALSE(read_plain_query(query_with_opt("a.example.", 100, false, {}), Transport::kUdp, 1232, q));
    std::vector<uint8_t> w = query_with_opt("a.example.", 1232, false, {});
    const size_t opt = w.size() - 11;
    w[opt] = 1;  // owner becomes a 1-byte label ...
    w.insert(w.begin() + static_cast<std::ptrdiff_t>(opt) + 1, {'x', 0});  // ... "x."
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
    CHECK_FALSE(read_plain_query(query_with_opt("a.example.", 1232, false, bytes_of({0, 10, 0, 9, 1})),
                                 Transport::kUdp, 1232, q));
    w = query_with_opt("a.example.", 1232, false, {});
    w.insert(w.end(), w.end() - 11, w.end());
    w[11] = 2;
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
  }
  SUBCASE("another additional record") {
    std::vector<uint8_t> w = base;
    w.insert(w.end(), {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1});
    w[11] = 1;
    CHECK_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
  }
}

TEST_CASE("mutated queries: whatever the plain reader accepts, ldns reads the same way") {
  std::mt19937 rng(12345);
  size_t accepted = 0, total = 0;
  for (const auto& base : plain_corpus()) {
    for (int i = 0; i < 3000; ++i) {
      std::vector<uint8_t> w = base;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        switch (rng() % 6) {
          case 0: w[rng() % w.size()] = static_cast<uint8_t>(rng()); break;
          case 1: w[rng() % w.size()] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
          case 2: if (w.size() > 1) w.resize(w.size() - 1 - rng() % std::min<size_t>(w.size() - 1, 8)); break;
          case 3: w.push_back(static_cast<uint8_t>(rng() % 4 == 0 ? 0 : rng())); break;
          case 4: if (w.size() > 11) w[4 + rng() % 8] = static_cast<uint8_t>(rng() % 3); break;
          default: w.insert(w.begin() + static_cast<std::ptrdiff_t>(rng() % w.size()), static_cast<uint8_t>(rng() % 70));
        }
        if (w.empty()) break;
      }
      for (Transport t : {Transport::kUdp, Transport::kTcp}) {
        ++total;
        ClientQuery fast, slow;
        const QueryCheck a = parse_client_query(w, t, 1232, 4096, fast);
        const QueryCheck b = parse_client_query_ldns(w, t, 1232, 4096, slow);
        INFO("mutation " << i);
        CHECK(a == b);
        check_same(fast, slow);
        ClientQuery probe;
        if (w.size() >= LDNS_HEADER_SIZE && read_plain_query(w, t, 1232, probe)) ++accepted;
      }
    }
  }
  // The mutations must exercise both readers.
  CHECK(accepted > total / 20);
  CHECK(accepted < total);
}

TEST_CASE("a cache hit keeps the client's mixed case (0x20) in the question and the answer owner") {
  Harness h;
  h.resolve("www.example.com.", LDNS_RR_TYPE_A, {"www.example.com. 300 IN A 192.0.2.1"});
  for (const char* name : {"WWW.EXAMPLE.COM.", "wWw.ExAmPlE.cOm.", "www.example.com."}) {
    h.ask(name, LDNS_RR_TYPE_A, {.id = 3});
    PktPtr r = h.only_client_reply();
    CHECK(section(r.get(), LDNS_SECTION_QUESTION)[0] == std::string(name) + " IN A");
    CHECK(section(r.get(), LDNS_SECTION_ANSWER)[0] == std::string(name) + " 300 IN A 192.0.2.1");
  }
  CHECK(h.engine->stats().cache_hits == 3);
}

TEST_CASE("a cache hit patches every TTL by the entry's age") {
  Options o = base_options();
  o.prefetch = false;  // the last ages are within 10% of the TTL
  Harness h(o);
  PktPtr first = h.resolve("t.example.com.", LDNS_RR_TYPE_A,
                           {"t.example.com. 300 IN A 192.0.2.1", "t.example.com. 120 IN A 192.0.2.2"},
                           {"example.com. 600 IN NS ns.example.com."});
  const std::pair<int, std::vector<std::string>> ages[] = {
      {0, {"t.example.com. 300 IN A 192.0.2.1", "t.example.com. 120 IN A 192.0.2.2"}},
      {1, {"t.example.com. 299 IN A 192.0.2.1", "t.example.com. 119 IN A 192.0.2.2"}},
      {60, {"t.example.com. 240 IN A 192.0.2.1", "t.example.com. 60 IN A 192.0.2.2"}},
      {119, {"t.example.com. 181 IN A 192.0.2.1", "t.example.com. 1 IN A 192.0.2.2"}},
  };
  const Time stored = h.now;
  for (const auto& [age, answer] : ages) {
    h.now = stored + std::chrono::seconds(age);
    h.ask("t.example.com.", LDNS_RR_TYPE_A, {.edns = true});
    PktPtr r = h.only_client_reply();
    CHECK(section(r.get(), LDNS_SECTION_ANSWER) == answer);
    CHECK(first_ttl(r.get(), LDNS_SECTION_AUTHORITY) == 600u - static_cast<uint32_t>(age));
  }
  h.now = stored + 120s;  // the shortest TTL is over: the entry is refreshed upstream
  h.ask("t.example.com.", LDNS_RR_TYPE_A, {.edns = true});
  h.only(SendKind::kToUpstreamUdp);
  CHECK(h.engine->stats().cache_hits == 4);
}

TEST_CASE("a DO query is a separate cache entry and gets an OPT with DO") {
  Harness h;
  h.resolve("d.example.com.", LDNS_RR_TYPE_A, {"d.example.com. 300 IN A 192.0.2.1"}, {}, {},
            {.edns = true, .do_bit = true});
  h.ask("d.example.com.", LDNS_RR_TYPE_A, {.edns = true, .do_bit = true});
  PktPtr hit = h.only_client_reply();
  CHECK(ldns_pkt_edns_do(hit.get()));
  CHECK(h.engine->stats().cache_hits == 1);
  h.ask("d.example.com.", LDNS_RR_TYPE_A, {.edns = true, .do_bit = false});
  Send up = h.only(SendKind::kToUpstreamUdp);
  CHECK_FALSE(ldns_pkt_edns_do(parse(up.bytes).get()));
}

TEST_CASE("a cache hit is cut to the client's EDNS size with TC, and whole over TCP") {
  Harness h;
  cache_many(h, 60);  // about 1 kB
  for (uint16_t size : {512, 600, 900}) {
    h.ask("BIG.example.com.", LDNS_RR_TYPE_A, {.id = size, .edns = true, .udp_size = size});
    Send s = h.only(SendKind::kToClient);
    CHECK(s.bytes.size() <= size);
    PktPtr r = parse(s.bytes);
    CHECK(ldns_pkt_tc(r.get()));
    CHECK(ldns_pkt_id(r.get()) == size);
    CHECK(ldns_pkt_edns_udp_size(r.get()) == 1232);
    CHECK(section(r.get(), LDNS_SECTION_QUESTION)[0] == "BIG.example.com. IN A");
  }
  h.ask("big.example.com.", LDNS_RR_TYPE_A, {.edns = true, .udp_size = 1232});
  CHECK(ldns_pkt_ancount(h.only_client_reply().get()) == 60);
  h.ask("big.example.com.", LDNS_RR_TYPE_A, {}, peer("127.0.0.1", 40001, Transport::kTcp, 3));
  CHECK(ldns_pkt_ancount(h.only_client_reply().get()) == 60);
}

TEST_CASE("shapes the plain reader refuses are still answered right through ldns") {
  Harness h;
  h.resolve("example.com.", LDNS_RR_TYPE_A, {"example.com. 300 IN A 192.0.2.1"});
  SUBCASE("an EDNS UDP size below 512 is read by ldns, answered, and hits the cache") {
    std::vector<uint8_t> w = query_with_opt("example.com.", 100, false, {});
    ldns_write_uint16(w.data(), 0x7777);
    ClientQuery q;
    REQUIRE_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
    h.query(w);
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_id(r.get()) == 0x7777);
    CHECK(section(r.get(), LDNS_SECTION_ANSWER)[0] == "example.com. 300 IN A 192.0.2.1");
    CHECK(h.engine->stats().cache_hits == 1);
  }
  SUBCASE("a compression pointer in the question is FORMERR (it can only point forward or into the header)") {
    // Question name: pointer to offset 18, where "example.com." follows type and class.
    std::vector<uint8_t> w = bytes_of({0x77, 0x77, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 18, 0, 1, 0, 1,
                                       7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0});
    ClientQuery q;
    REQUIRE_FALSE(read_plain_query(w, Transport::kUdp, 1232, q));
    h.query(w);
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_FORMERR);
    CHECK(ldns_pkt_id(r.get()) == 0x7777);
    CHECK(h.engine->stats().cache_hits == 0);
  }
  SUBCASE("QDCOUNT 2 is FORMERR") {
    PktPtr p(ldns_pkt_query_new(ldns_dname_new_frm_str("example.com."), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD));
    ldns_rr* q2 = nullptr;
    REQUIRE(ldns_rr_new_question_frm_str(&q2, "example.com. IN A", nullptr, nullptr) == LDNS_STATUS_OK);
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, q2);
    ldns_pkt_set_id(p.get(), 0x7777);
    h.query(to_wire(p.get()));
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_FORMERR);
    CHECK(ldns_pkt_id(r.get()) == 0x7777);
    CHECK(h.engine->stats().cache_hits == 0);
  }
  SUBCASE("opcode STATUS is NOTIMP") {
    std::vector<uint8_t> w = make_query("example.com.", LDNS_RR_TYPE_A, {.id = 0x7777});
    LDNS_OPCODE_SET(w.data(), LDNS_PACKET_STATUS);
    h.query(w);
    CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_NOTIMPL);
    CHECK(h.engine->stats().cache_hits == 0);
  }
  SUBCASE("EDNS version 1 is BADVERS") {
    h.query(query_with_opt("example.com.", 1232, false, {}, 1));
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_edns_extended_rcode(r.get()) == 1);
    CHECK(h.engine->stats().cache_hits == 0);
  }
}

}  // namespace portico::dnscache::test
