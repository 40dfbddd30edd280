// On-the-wire behaviour towards clients: ACL, malformed queries, question case,
// EDNS sizes, truncation and TCP.
#include <string>

#include "dns_test_support.hpp"

namespace portico::dnscache::test {

TEST_CASE("clients outside the allow list are REFUSED") {
  Harness h;
  h.ask("www.example.com.", LDNS_RR_TYPE_A, {.id = 99}, peer("192.0.2.1", 5000));
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_REFUSED);
  CHECK(ldns_pkt_id(r.get()) == 99);
  CHECK(section(r.get(), LDNS_SECTION_QUESTION)[0] == "www.example.com. IN A");
  CHECK(h.engine->stats().refused == 1);
  h.ask("www.example.com.", LDNS_RR_TYPE_A, {}, peer("::1", 5000));
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("an empty allow list refuses everybody, an explicit one admits its networks") {
  Options o = base_options();
  o.allow.clear();
  Harness none(o);
  none.ask("www.example.com.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_get_rcode(none.only_client_reply().get()) == LDNS_RCODE_REFUSED);
  o.allow = {*Cidr::parse("192.0.2.0/24")};
  Harness some(o);
  some.ask("www.example.com.", LDNS_RR_TYPE_A, {}, peer("192.0.2.77", 1));
  some.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("short packets and packets with QR set are dropped") {
  Harness h;
  h.query(bytes_of({0x12, 0x34, 0x01}));
  CHECK(h.out.sends().empty());
  std::vector<uint8_t> resp = make_query("www.example.com.", LDNS_RR_TYPE_A);
  LDNS_QR_SET(resp.data());
  h.query(resp);
  CHECK(h.out.sends().empty());
  h.query({});
  CHECK(h.out.sends().empty());
  CHECK(h.engine->stats().dropped == 3);
}

TEST_CASE("malformed queries get FORMERR with the client's ID") {
  Harness h;
  SUBCASE("truncated question") {
    std::vector<uint8_t> q = make_query("www.example.com.", LDNS_RR_TYPE_A, {.id = 0x5151});
    q.resize(q.size() - 6);
    h.query(q);
  }
  SUBCASE("no question") {
    h.query(bytes_of({0x51, 0x51, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}));
  }
  SUBCASE("two questions") {
    PktPtr p(ldns_pkt_query_new(ldns_dname_new_frm_str("a.example."), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD));
    ldns_rr* q2 = nullptr;
    REQUIRE(ldns_rr_new_question_frm_str(&q2, "b.example. IN A", nullptr, nullptr) == LDNS_STATUS_OK);
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, q2);
    ldns_pkt_set_id(p.get(), 0x5151);
    h.query(to_wire(p.get()));
  }
  SUBCASE("compression loop") {
    h.query(bytes_of({0x51, 0x51, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}));
  }
  SUBCASE("pointer beyond the packet") {
    h.query(bytes_of({0x51, 0x51, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 200, 0, 1, 0, 1}));
  }
  SUBCASE("label overflow") {
    h.query(bytes_of({0x51, 0x51, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 'a', 0, 0, 1, 0, 1}));
  }
  SUBCASE("counts larger than the data") {
    h.query(bytes_of({0x51, 0x51, 0x01, 0x00, 0, 1, 0, 5, 0, 0, 0, 0, 0, 0, 1, 0, 1}));
  }
  SUBCASE("two OPT records (RFC 6891)") {
    std::vector<uint8_t> q = make_query("www.example.com.", LDNS_RR_TYPE_A, {.id = 0x5151});
    append_additional(q, bytes_of({0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}), 2);
    h.query(q);
  }
  SUBCASE("three TSIG records (ldns_wire2pkt would leak all but the last)") {
    std::vector<uint8_t> q = make_query("www.example.com.", LDNS_RR_TYPE_A, {.id = 0x5151});
    append_additional(q, kTsigRecord, 3);
    h.query(q);
  }
  SUBCASE("oversized") {
    std::vector<uint8_t> q = make_query("www.example.com.", LDNS_RR_TYPE_A, {.id = 0x5151});
    q.resize(5000, 0);
    h.query(q);
  }
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_FORMERR);
  CHECK(ldns_pkt_id(r.get()) == 0x5151);
  CHECK(ldns_pkt_qr(r.get()));
  CHECK(h.engine->stats().formerr == 1);
  CHECK(h.engine->stats().cache_entries == 0);
}

TEST_CASE("other opcodes get NOTIMP, zone transfers REFUSED, EDNS version 1 BADVERS") {
  Harness h;
  std::vector<uint8_t> notify = make_query("example.com.", LDNS_RR_TYPE_SOA);
  LDNS_OPCODE_SET(notify.data(), LDNS_PACKET_NOTIFY);
  h.query(notify);
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_NOTIMPL);

  h.ask("example.com.", LDNS_RR_TYPE_AXFR);
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_REFUSED);

  PktPtr p(ldns_pkt_query_new(ldns_dname_new_frm_str("example.com."), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_edns_udp_size(p.get(), 1232);
  ldns_pkt_set_edns_version(p.get(), 1);
  h.query(to_wire(p.get()));
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(r.get()) == 0);
  CHECK(ldns_pkt_edns_extended_rcode(r.get()) == 1);  // BADVERS = 16
}

TEST_CASE("the reply question keeps the client's case, on miss and on hit") {
  Harness h;
  PktPtr first = h.resolve("WwW.ExAmPlE.CoM.", LDNS_RR_TYPE_A, {"www.example.com. 300 IN A 192.0.2.1"});
  CHECK(section(first.get(), LDNS_SECTION_QUESTION)[0] == "WwW.ExAmPlE.CoM. IN A");
  CHECK(section(first.get(), LDNS_SECTION_ANSWER)[0] == "WwW.ExAmPlE.CoM. 300 IN A 192.0.2.1");
  h.ask("wWw.eXaMpLe.cOm.", LDNS_RR_TYPE_A);
  PktPtr hit = h.only_client_reply();
  CHECK(section(hit.get(), LDNS_SECTION_QUESTION)[0] == "wWw.eXaMpLe.cOm. IN A");
}

TEST_CASE("RD is echoed and RA set") {
  Harness h;
  h.resolve("rd.example.com.", LDNS_RR_TYPE_A, {"rd.example.com. 300 IN A 192.0.2.1"});
  h.ask("rd.example.com.", LDNS_RR_TYPE_A, {.rd = false});
  PktPtr r = h.only_client_reply();
  CHECK_FALSE(ldns_pkt_rd(r.get()));
  CHECK(ldns_pkt_ra(r.get()));
  CHECK(ldns_pkt_qr(r.get()));
  CHECK_FALSE(ldns_pkt_aa(r.get()));
}

TEST_CASE("UDP replies that do not fit are truncated with TC; TCP gets everything") {
  Harness h;
  cache_many(h, 100);  // about 1.7 kB
  h.ask("big.example.com.", LDNS_RR_TYPE_A, {.id = 1, .edns = true, .udp_size = 4096});
  Send s = h.only(SendKind::kToClient);
  CHECK(s.bytes.size() <= 1232);  // capped at max_udp_payload
  PktPtr r = parse(s.bytes);
  CHECK(ldns_pkt_tc(r.get()));
  CHECK(ldns_pkt_ancount(r.get()) == 0);
  CHECK(ldns_pkt_edns(r.get()));
  CHECK(section(r.get(), LDNS_SECTION_QUESTION)[0] == "big.example.com. IN A");
  CHECK(h.engine->stats().truncated >= 1);

  h.ask("big.example.com.", LDNS_RR_TYPE_A, {.id = 2}, peer("127.0.0.1", 40001, Transport::kTcp, 7));
  Send t = h.only(SendKind::kToClient);
  CHECK(t.to.transport == Transport::kTcp);
  CHECK(t.to.conn_id == 7);
  PktPtr full = parse(t.bytes);
  CHECK_FALSE(ldns_pkt_tc(full.get()));
  CHECK(ldns_pkt_ancount(full.get()) == 100);
}

TEST_CASE("the client's EDNS size is honoured between 512 and max_udp_payload") {
  Harness h;
  cache_many(h, 40);  // about 700 bytes
  h.ask("big.example.com.", LDNS_RR_TYPE_A);  // no EDNS: 512
  CHECK(ldns_pkt_tc(h.only_client_reply().get()));
  h.ask("big.example.com.", LDNS_RR_TYPE_A, {.edns = true, .udp_size = 1232});
  PktPtr fits = h.only_client_reply();
  CHECK_FALSE(ldns_pkt_tc(fits.get()));
  CHECK(ldns_pkt_ancount(fits.get()) == 40);
  CHECK(ldns_pkt_edns_udp_size(fits.get()) == 1232);
  h.ask("big.example.com.", LDNS_RR_TYPE_A, {.edns = true, .udp_size = 600});
  CHECK(ldns_pkt_tc(h.only_client_reply().get()));
  h.ask("big.example.com.", LDNS_RR_TYPE_A, {.edns = true, .udp_size = 100});  // below 512: 512
  Send s = h.only(SendKind::kToClient);
  CHECK(s.bytes.size() <= 512);
  CHECK(ldns_pkt_tc(parse(s.bytes).get()));
}

TEST_CASE("a client without EDNS gets no OPT record, one with EDNS gets one") {
  Harness h;
  PktPtr plain = h.resolve("o.example.com.", LDNS_RR_TYPE_A, {"o.example.com. 300 IN A 192.0.2.1"});
  CHECK_FALSE(ldns_pkt_edns(plain.get()));
  CHECK(ldns_pkt_arcount(plain.get()) == 0);
  h.ask("o.example.com.", LDNS_RR_TYPE_A, {.edns = true});
  PktPtr e = h.only_client_reply();
  CHECK(ldns_pkt_edns(e.get()));
  CHECK_FALSE(ldns_pkt_edns_do(e.get()));
}

TEST_CASE("a query may not hold what ldns would let through: FORMERR") {
  Harness h;
  const std::vector<uint8_t> opt = bytes_of({0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
  auto rcode_of = [&](const std::vector<uint8_t>& w) {
    h.query(w);
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_id(r.get()) == 0x5151);
    return ldns_pkt_get_rcode(r.get());
  };
  const std::vector<uint8_t> q = make_query("www.example.com.", LDNS_RR_TYPE_A, {.id = 0x5151});
  // Trailing bytes after the question, and after an OPT.
  std::vector<uint8_t> trailing = q;
  trailing.push_back(0);
  CHECK(rcode_of(trailing) == LDNS_RCODE_FORMERR);
  std::vector<uint8_t> with_opt = q;
  append_additional(with_opt, opt);
  with_opt.push_back(7);
  CHECK(rcode_of(with_opt) == LDNS_RCODE_FORMERR);
  // An OPT whose owner is not the root (here a pointer to the question name).
  std::vector<uint8_t> named_opt = q;
  append_additional(named_opt, bytes_of({0xc0, 12, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}));
  CHECK(rcode_of(named_opt) == LDNS_RCODE_FORMERR);
  // An OPT in the answer section.
  std::vector<uint8_t> opt_answer = q;
  append_additional(opt_answer, opt);
  opt_answer[7] = 1;   // ANCOUNT 1
  opt_answer[11] = 0;  // ARCOUNT 0
  CHECK(rcode_of(opt_answer) == LDNS_RCODE_FORMERR);
  // A TSIG that is not the last record.
  std::vector<uint8_t> tsig_first = q;
  append_additional(tsig_first, kTsigRecord);
  append_additional(tsig_first, opt);
  CHECK(rcode_of(tsig_first) == LDNS_RCODE_FORMERR);
  // A pointer in a later record that points forward (here, at itself).
  std::vector<uint8_t> forward = q;
  const int at = static_cast<int>(forward.size());
  append_additional(forward, bytes_of({0xc0, at, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}));
  CHECK(rcode_of(forward) == LDNS_RCODE_FORMERR);
  CHECK(h.engine->outstanding() == 0);
  // The same shapes done right are fine: an OPT at the root, a TSIG last, and a
  // record whose owner points back to the question name.
  std::vector<uint8_t> good = q;
  append_additional(good, bytes_of({0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}));
  append_additional(good, opt);
  append_additional(good, kTsigRecord);
  h.query(good);
  CHECK(h.only(SendKind::kToUpstreamUdp).kind == SendKind::kToUpstreamUdp);
}

TEST_CASE("safe_for_ldns: at most one OPT and one TSIG in the additional section, and whole records") {
  std::vector<uint8_t> q = make_query("www.example.com.", LDNS_RR_TYPE_A, {.id = 1});
  CHECK(safe_for_ldns(q));
  const std::vector<uint8_t> opt = bytes_of({0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0});
  const std::vector<uint8_t>& tsig = kTsigRecord;
  auto with = [&](std::initializer_list<const std::vector<uint8_t>*> rrs) {
    std::vector<uint8_t> m = q;
    for (const auto* rr : rrs) append_additional(m, *rr);
    return m;
  };
  CHECK(safe_for_ldns(with({&opt})));
  CHECK(safe_for_ldns(with({&opt, &tsig})));
  CHECK_FALSE(safe_for_ldns(with({&opt, &opt})));
  CHECK_FALSE(safe_for_ldns(with({&tsig, &opt, &tsig})));
  // An answer record's type does not count: only the additional section's.
  std::vector<uint8_t> an = with({&tsig});
  an[7] = 1;   // ANCOUNT 1 (the TSIG is now an answer)
  an[11] = 0;  // ARCOUNT 0
  CHECK(safe_for_ldns(an));
  // Truncated inside a record, a bad label type, a header alone with counts.
  std::vector<uint8_t> cut = with({&opt});
  cut.resize(cut.size() - 1);
  CHECK_FALSE(safe_for_ldns(cut));
  CHECK_FALSE(safe_for_ldns(bytes_of({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 0, 1})));
  CHECK_FALSE(safe_for_ldns(bytes_of({0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})));
  CHECK_FALSE(safe_for_ldns(bytes_of({0, 1, 0})));
}

}  // namespace portico::dnscache::test
