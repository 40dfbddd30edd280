#include <doctest/doctest.h>

#include "mdns/name.hpp"
#include "mdns/record.hpp"
#include "tests/unit/mdns/harness.hpp"

using namespace portico::mdns;
using namespace portico::mdns::test;

TEST_CASE("names: labels with dots and spaces, case-insensitive comparison") {
  Name n = name_prepend("My.Printer 2", N("_ipp._tcp.local"));
  REQUIRE_FALSE(n.empty());
  CHECK(name_labels(n) == std::vector<std::string>{"My.Printer 2", "_ipp", "_tcp", "local"});
  CHECK(name_to_text(n) == "My\\.Printer 2._ipp._tcp.local");
  CHECK(name_first_label(n) == "My.Printer 2");
  CHECK(name_parent(n) == N("_ipp._tcp.local"));
  CHECK(name_equal(N("Portico.LOCAL"), N("portico.local")));
  CHECK_FALSE(name_equal(N("portico.local"), N("portico2.local")));
  CHECK(name_prepend(std::string(64, 'x'), N("local")).empty());
  CHECK(N("a..b").empty());
}

TEST_CASE("encode/decode round trip keeps flags, QU and cache-flush bits") {
  Message m;
  m.id = 9;
  m.qr = true;
  m.aa = true;
  m.questions.push_back({N("x.local"), rrtype::kA, kClassIn, true});
  m.answers.push_back({N("x.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 1}});
  m.answers.push_back({N("_t._tcp.local"), rrtype::kPtr, kClassIn, false, 4500, rdata_name(N("I._t._tcp.local"))});
  m.additional.push_back({N("I._t._tcp.local"), rrtype::kSrv, kClassIn, true, 120, rdata_srv(1, 2, 3, N("x.local"))});
  m.additional.push_back({N("I._t._tcp.local"), rrtype::kTxt, kClassIn, true, 4500, rdata_txt({"a=b", "c"})});
  auto bytes = encode(m);
  REQUIRE_FALSE(bytes.empty());
  auto d = decode(bytes);
  REQUIRE(d);
  CHECK(d->id == 9);
  CHECK(d->qr);
  CHECK(d->aa);
  REQUIRE(d->questions.size() == 1);
  CHECK(d->questions[0].unicast_response);
  REQUIRE(d->answers.size() == 2);
  CHECK(d->answers[0].cache_flush);
  CHECK_FALSE(d->answers[1].cache_flush);
  CHECK(same_record(d->answers[1], m.answers[1]));
  auto srv = parse_srv(d->additional[0].rdata);
  REQUIRE(srv);
  CHECK(srv->priority == 1);
  CHECK(srv->weight == 2);
  CHECK(srv->port == 3);
  auto txt = txt_entries(*parse_txt(d->additional[1].rdata));
  CHECK(txt == std::vector<TxtEntry>{{"a", "b", true}, {"c", "", false}});
}

TEST_CASE("decode: header fields; OPT and TSIG are not kept as records, several of them leak nothing") {
  Message m;
  m.id = 0x1234;
  m.qr = true;
  m.tc = true;
  m.rcode = 3;
  m.answers.push_back({N("x.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 1}});
  m.additional.push_back({N("x.local"), rrtype::kAaaa, kClassIn, true, 120, std::vector<uint8_t>(16, 1)});
  std::vector<uint8_t> bytes = encode(m);
  REQUIRE_FALSE(bytes.empty());
  // Three TSIG and two OPT records after the AAAA (ldns_wire2pkt leaked all but
  // the last TSIG; under ASan this test fails if anything leaks).
  const std::vector<uint8_t> tsig = {0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0};
  const std::vector<uint8_t> opt = {0, 0, 41, 0x05, 0xa0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0};
  for (const auto* rr : {&tsig, &opt, &tsig, &opt, &tsig}) bytes.insert(bytes.end(), rr->begin(), rr->end());
  bytes[11] = 6;  // ARCOUNT
  auto d = decode(bytes);
  REQUIRE(d);
  CHECK(d->id == 0x1234);
  CHECK(d->qr);
  CHECK_FALSE(d->aa);
  CHECK(d->tc);
  CHECK(d->rcode == 3);
  CHECK(d->opcode == 0);
  REQUIRE(d->answers.size() == 1);
  REQUIRE(d->additional.size() == 1);
  CHECK(d->additional[0].type == rrtype::kAaaa);
  // One byte short: the last record is cut, the packet refused.
  bytes.resize(bytes.size() - 1);
  CHECK_FALSE(decode(bytes));
}

TEST_CASE("TXT helpers: empty TXT is one empty string; entries without key are skipped") {
  CHECK(rdata_txt({}) == std::vector<uint8_t>{0});
  CHECK(txt_entries({"", "=x", "k=v=w"}) == std::vector<TxtEntry>{{"k", "v=w", true}});
  CHECK_FALSE(parse_txt({5, 'a'}));
}

TEST_CASE("tie-break order: class, then type, then rdata bytes") {
  Record a{N("h.local"), rrtype::kA, kClassIn, false, 120, {127, 0, 0, 2}};
  Record b = a;
  b.rdata = {127, 0, 0, 3};
  CHECK(compare_for_tiebreak(a, b) < 0);
  CHECK(compare_for_tiebreak(b, a) > 0);
  CHECK(compare_for_tiebreak(a, a) == 0);
  Record c = a;
  c.type = rrtype::kAaaa;
  c.rdata = std::vector<uint8_t>(16, 0);
  CHECK(compare_for_tiebreak(a, c) < 0);  // type 1 < 28 whatever the rdata
  Record d = a;
  d.cache_flush = true;  // the flush bit is not part of the class
  CHECK(compare_for_tiebreak(a, d) == 0);
}

TEST_CASE("rdata comparison ignores case only inside names") {
  CHECK(rdata_equal(rrtype::kPtr, rdata_name(N("A.local")), rdata_name(N("a.local"))));
  CHECK(rdata_equal(rrtype::kSrv, rdata_srv(0, 0, 80, N("H.local")), rdata_srv(0, 0, 80, N("h.local"))));
  CHECK_FALSE(rdata_equal(rrtype::kTxt, rdata_txt({"A"}), rdata_txt({"a"})));
}
