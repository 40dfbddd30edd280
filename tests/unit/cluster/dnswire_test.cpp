// DNS discovery's wire helpers (ldns): query building, answer parsing.
#include <doctest/doctest.h>

#include <cstdlib>

#include "proxy/cluster/dns_discovery.hpp"

#include <ldns/ldns.h>  // last: its C headers must not precede <optional>

namespace portico::cluster::dnswire {
namespace {

// A response to `query` carrying `rrs` (presentation format) in the answer.
std::vector<uint8_t> respond(const std::vector<uint8_t>& query, const std::vector<std::string>& rrs,
                             ldns_pkt_rcode rcode = LDNS_RCODE_NOERROR) {
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, query.data(), query.size()) == LDNS_STATUS_OK);
  ldns_pkt_set_qr(pkt, true);
  ldns_pkt_set_rcode(pkt, rcode);
  for (const std::string& s : rrs) {
    ldns_rr* rr = nullptr;
    REQUIRE(ldns_rr_new_frm_str(&rr, s.c_str(), 300, nullptr, nullptr) == LDNS_STATUS_OK);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  REQUIRE(ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK);
  std::vector<uint8_t> out(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(pkt);
  return out;
}

TEST_CASE("a query carries the name, type and id") {
  auto q = build_query("svc.test", 1, 0xbeef);
  REQUIRE(q.size() > 12);
  CHECK(q[0] == 0xbe);
  CHECK(q[1] == 0xef);
  CHECK((q[2] & 0x01) == 0x01);  // RD
  CHECK(build_query("bad..name", 1, 1).empty());
}

TEST_CASE("A and AAAA answers give addresses and the shortest TTL; CNAMEs are skipped") {
  auto q = build_query("svc.test", 1, 7);
  auto r = respond(q, {"svc.test. 30 IN CNAME real.test.", "real.test. 20 IN A 127.0.0.2",
                       "real.test. 10 IN A 127.0.0.3"});
  Answer a = parse_answer(r.data(), r.size(), 1);
  CHECK(a.ok);
  CHECK(a.id == 7);
  REQUIRE(a.addresses.size() == 2);
  CHECK(a.addresses[0].str() == "127.0.0.2:0");
  CHECK(a.addresses[1].str() == "127.0.0.3:0");
  CHECK(a.min_ttl == 10);
  auto q6 = build_query("svc.test", 28, 8);
  auto r6 = respond(q6, {"svc.test. 5 IN AAAA ::1"});
  Answer a6 = parse_answer(r6.data(), r6.size(), 28);
  REQUIRE(a6.addresses.size() == 1);
  CHECK(a6.addresses[0].str() == "[::1]:0");
}

TEST_CASE("SRV answers give targets with priority, weight and port") {
  auto q = build_query("_http._tcp.svc.test", 33, 9);
  auto r = respond(q, {"_http._tcp.svc.test. 60 IN SRV 1 3 8080 b.svc.test.",
                       "_http._tcp.svc.test. 60 IN SRV 0 0 80 a.svc.test.",
                       "_http._tcp.svc.test. 60 IN SRV 0 0 0 .",});
  Answer a = parse_answer(r.data(), r.size(), 33);
  CHECK(a.ok);
  REQUIRE(a.srvs.size() == 2);  // port 0 / target "." means no service
  CHECK(a.srvs[0].priority == 1);
  CHECK(a.srvs[0].weight == 3);
  CHECK(a.srvs[0].port == 8080);
  CHECK(a.srvs[0].target == "b.svc.test");
  CHECK(a.srvs[1].target == "a.svc.test");
}

TEST_CASE("errors, mismatched types and garbage are not ok") {
  auto q = build_query("svc.test", 1, 7);
  auto r = respond(q, {}, LDNS_RCODE_SERVFAIL);
  CHECK_FALSE(parse_answer(r.data(), r.size(), 1).ok);
  auto nx = respond(q, {}, LDNS_RCODE_NXDOMAIN);
  Answer a = parse_answer(nx.data(), nx.size(), 1);
  CHECK(a.ok);
  CHECK(a.addresses.empty());
  auto ok = respond(q, {"svc.test. 20 IN A 127.0.0.2"});
  CHECK_FALSE(parse_answer(ok.data(), ok.size(), 28).ok);  // asked A, parsed as AAAA
  CHECK_FALSE(parse_answer(q.data(), q.size(), 1).ok);     // a query, not a response
  const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  CHECK_FALSE(parse_answer(junk, sizeof junk, 1).ok);
}

TEST_CASE("a truncated answer is flagged (TC), with whatever records it kept") {
  auto q = build_query("many.test", 1, 9);
  auto r = respond(q, {"many.test. 20 IN A 127.0.1.1"});
  CHECK_FALSE(parse_answer(r.data(), r.size(), 1).truncated);
  r[2] |= 0x02;  // TC
  Answer a = parse_answer(r.data(), r.size(), 1);
  CHECK(a.ok);
  CHECK(a.truncated);
  CHECK(a.addresses.size() == 1);
}

TEST_CASE("TCP framing: length prefixes out, whole messages back from any split") {
  const std::vector<uint8_t> m1 = {1, 2, 3};
  const std::vector<uint8_t> m2(300, 0xab);
  std::vector<uint8_t> stream;
  append_framed(stream, m1);
  append_framed(stream, m2);
  append_framed(stream, {});
  REQUIRE(stream.size() == 2 + 3 + 2 + 300 + 2);
  CHECK(stream[0] == 0);
  CHECK(stream[1] == 3);
  CHECK(stream[5] == 1);  // 300 = 0x012c
  CHECK(stream[6] == 0x2c);
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, stream.size()}) {
    TcpFramer f;
    std::vector<std::vector<uint8_t>> got;
    for (size_t off = 0; off < stream.size(); off += chunk) {
      f.feed(stream.data() + off, std::min(chunk, stream.size() - off));
      const uint8_t* d = nullptr;
      size_t n = 0;
      while (f.next(&d, &n)) got.emplace_back(d, d + n);
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0] == m1);
    CHECK(got[1] == m2);
    CHECK(got[2].empty());
  }
  // a partial message waits for the rest
  TcpFramer f;
  f.feed(stream.data(), 4);
  const uint8_t* d = nullptr;
  size_t n = 0;
  CHECK_FALSE(f.next(&d, &n));
  f.feed(stream.data() + 4, 1);
  REQUIRE(f.next(&d, &n));
  CHECK(n == 3);
}

}  // namespace
}  // namespace portico::cluster::dnswire
