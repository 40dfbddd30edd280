// Forwarding: upstream choice, failover, coalescing, bounds, reply validation and
// the TCP retry after a truncated upstream reply.
#include "dns_test_support.hpp"

namespace portico::dnscache::test {

TEST_CASE("a miss is forwarded with a random ID, RD, EDNS and the lower-cased question") {
  Harness h;
  h.ask("WWW.Example.COM.", LDNS_RR_TYPE_A, {.id = 0x4242});
  Send up = h.only(SendKind::kToUpstreamUdp);
  PktPtr q = parse(up.bytes);
  CHECK(ldns_pkt_id(q.get()) != 0x4242);
  CHECK(ldns_pkt_rd(q.get()));
  CHECK_FALSE(ldns_pkt_qr(q.get()));
  CHECK(ldns_pkt_edns(q.get()));
  CHECK(section(q.get(), LDNS_SECTION_QUESTION)[0] == "www.example.com. IN A");
  CHECK(up.to.transport == Transport::kUdp);
  CHECK(up.token != 0);
  CHECK(h.out.next_wakeup == h.now + 1500ms);
  // Two different questions get different IDs and tokens.
  h.ask("other.example.com.", LDNS_RR_TYPE_A);
  Send up2 = h.only(SendKind::kToUpstreamUdp);
  CHECK(up2.token != up.token);
  CHECK(ldns_pkt_id(parse(up2.bytes).get()) != ldns_pkt_id(q.get()));
}

TEST_CASE("identical in-flight questions are coalesced into one upstream query") {
  Harness h;
  h.ask("c.example.com.", LDNS_RR_TYPE_A, {.id = 1}, peer("127.0.0.1", 1001));
  Send up = h.only(SendKind::kToUpstreamUdp);
  h.ask("C.EXAMPLE.com.", LDNS_RR_TYPE_A, {.id = 2}, peer("127.0.0.2", 1002));
  CHECK(h.out.sends().empty());
  h.ask("c.example.com.", LDNS_RR_TYPE_A, {.id = 3}, peer("127.0.0.3", 1003));
  CHECK(h.out.sends().empty());
  CHECK(h.engine->stats().coalesced == 2);
  h.reply(up, make_reply(up.bytes, {"c.example.com. 300 IN A 192.0.2.1"}));
  REQUIRE(h.out.sends().size() == 3);
  uint16_t ids[3];
  for (int i = 0; i < 3; ++i) {
    const Send& s = h.out.sends()[i];
    CHECK(s.kind == SendKind::kToClient);
    PktPtr r = parse(s.bytes);
    ids[i] = ldns_pkt_id(r.get());
    CHECK(ldns_pkt_ancount(r.get()) == 1);
  }
  CHECK(ids[0] == 1);
  CHECK(ids[1] == 2);
  CHECK(ids[2] == 3);
  PktPtr second = parse(h.out.sends()[1].bytes);
  CHECK(section(second.get(), LDNS_SECTION_QUESTION)[0] == "C.EXAMPLE.com. IN A");
  CHECK(h.out.sends()[1].to.conn_id == 0);
}

TEST_CASE("waiters beyond max_waiters get SERVFAIL") {
  Options o = base_options();
  o.max_waiters = 2;
  Harness h(o);
  h.ask("w.example.com.", LDNS_RR_TYPE_A);
  h.ask("w.example.com.", LDNS_RR_TYPE_A);
  CHECK(h.out.sends().empty());
  h.ask("w.example.com.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_SERVFAIL);
}

TEST_CASE("questions beyond max_outstanding get SERVFAIL") {
  Options o = base_options();
  o.max_outstanding = 2;
  Harness h(o);
  h.ask("a.example.com.", LDNS_RR_TYPE_A);
  h.ask("b.example.com.", LDNS_RR_TYPE_A);
  CHECK(h.engine->outstanding() == 2);
  h.ask("c.example.com.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_SERVFAIL);
}

TEST_CASE("without upstreams a miss is SERVFAIL") {
  Options o = base_options();
  o.upstreams.clear();
  Harness h(o);
  h.ask("a.example.com.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_get_rcode(h.only_client_reply().get()) == LDNS_RCODE_SERVFAIL);
}

TEST_CASE("a timeout fails over to the next upstream, SERVFAIL when all time out") {
  Harness h;
  h.ask("t.example.com.", LDNS_RR_TYPE_A, {.id = 8});
  Send a = h.only(SendKind::kToUpstreamUdp);
  h.now += 1499ms;
  h.tick();
  CHECK(h.out.sends().empty());
  h.now += 1ms;
  h.tick();
  Send b = h.only(SendKind::kToUpstreamUdp);
  CHECK(b.upstream_index != a.upstream_index);
  CHECK(b.token != a.token);
  CHECK(ldns_pkt_id(parse(b.bytes).get()) != ldns_pkt_id(parse(a.bytes).get()));
  REQUIRE(h.out.released().size() == 1);
  CHECK(h.out.released()[0] == a.token);
  // A late reply from the first upstream is no longer accepted.
  h.reply(a, make_reply(a.bytes, {"t.example.com. 300 IN A 192.0.2.1"}));
  CHECK(h.out.sends().empty());
  CHECK(h.engine->stats().bogus_replies == 1);
  h.now += 1500ms;
  h.tick();
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_id(r.get()) == 8);
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_SERVFAIL);
  CHECK(h.engine->stats().upstream_timeouts == 2);
  CHECK(h.engine->stats().servfail == 1);
  CHECK(h.engine->outstanding() == 0);
  CHECK(h.out.next_wakeup == kNever);
}

TEST_CASE("the upstream with the best smoothed RTT is preferred") {
  Harness h;
  // Upstream 0 times out once: its srtt is penalised, so upstream 1 is chosen next.
  h.ask("one.example.com.", LDNS_RR_TYPE_A);
  Send a = h.only(SendKind::kToUpstreamUdp);
  CHECK(a.upstream_index == 0);
  h.now += 1500ms;
  h.tick();
  Send b = h.only(SendKind::kToUpstreamUdp);
  CHECK(b.upstream_index == 1);
  h.now += 10ms;
  h.reply(b, make_reply(b.bytes, {"one.example.com. 300 IN A 192.0.2.1"}));
  CHECK(h.engine->stats().upstreams[0].srtt_us >= 1'500'000);
  CHECK(h.engine->stats().upstreams[1].srtt_us < 50'000);
  h.ask("two.example.com.", LDNS_RR_TYPE_A);
  CHECK(h.only(SendKind::kToUpstreamUdp).upstream_index == 1);
}

TEST_CASE("exploration sometimes picks a slower upstream") {
  Options o = base_options();
  o.explore_percent = 50;
  Harness h(o, 7);
  int to_second = 0;
  for (int i = 0; i < 40; ++i) {
    std::string name = std::to_string(i);  // (avoids a GCC 12 -Wrestrict false positive)
    name += ".example.com.";
    h.ask(name, LDNS_RR_TYPE_A);
    if (h.only(SendKind::kToUpstreamUdp).upstream_index == 1) ++to_second;
  }
  CHECK(to_second > 5);
  CHECK(to_second < 35);
}

TEST_CASE("replies with a wrong ID, source or question are ignored") {
  Harness h;
  h.ask("v.example.com.", LDNS_RR_TYPE_A, {.id = 3});
  Send up = h.only(SendKind::kToUpstreamUdp);
  const uint16_t id = ldns_pkt_id(parse(up.bytes).get());

  h.reply(up, make_reply(up.bytes, {"v.example.com. 300 IN A 192.0.2.66"}, {}, {.id = id ^ 1}));
  CHECK(h.out.sends().empty());
  h.reply_from(peer("127.0.0.99", 53), up.token, make_reply(up.bytes, {"v.example.com. 300 IN A 192.0.2.66"}));
  CHECK(h.out.sends().empty());
  h.reply_from(peer("127.0.0.53", 5353), up.token, make_reply(up.bytes, {"v.example.com. 300 IN A 192.0.2.66"}));
  CHECK(h.out.sends().empty());
  std::vector<uint8_t> other = make_query("w.example.com.", LDNS_RR_TYPE_A, {.id = id});
  h.reply(up, make_reply(other, {"w.example.com. 300 IN A 192.0.2.66"}));
  CHECK(h.out.sends().empty());
  std::vector<uint8_t> other_type = make_query("v.example.com.", LDNS_RR_TYPE_AAAA, {.id = id});
  h.reply(up, make_reply(other_type, {"v.example.com. 300 IN AAAA 2001:db8::1"}));
  CHECK(h.out.sends().empty());
  h.reply_from(up.to, up.token + 100, make_reply(up.bytes, {"v.example.com. 300 IN A 192.0.2.66"}));
  CHECK(h.out.sends().empty());
  std::vector<uint8_t> garbage = {0x00, 0x01, 0x80};
  h.reply(up, garbage);
  CHECK(h.out.sends().empty());
  // Three TSIG records: refused before ldns_wire2pkt, which would leak two.
  std::vector<uint8_t> tsigs = make_reply(up.bytes, {"v.example.com. 300 IN A 192.0.2.66"});
  append_additional(tsigs, kTsigRecord, 3);
  h.reply(up, tsigs);
  CHECK(h.out.sends().empty());
  CHECK(h.engine->stats().bogus_replies == 8);
  CHECK(h.engine->stats().cache_entries == 0);

  // The genuine reply still gets through (question case may differ).
  std::vector<uint8_t> mixed = make_query("V.EXAMPLE.COM.", LDNS_RR_TYPE_A, {.id = id});
  h.reply(up, make_reply(mixed, {"v.example.com. 300 IN A 192.0.2.1"}));
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_id(r.get()) == 3);
  CHECK(section(r.get(), LDNS_SECTION_ANSWER)[0] == "v.example.com. 300 IN A 192.0.2.1");
}

TEST_CASE("a truncated upstream reply is retried over TCP to the same upstream") {
  Harness h;
  h.ask("big.example.com.", LDNS_RR_TYPE_TXT, {.id = 11});
  Send up = h.only(SendKind::kToUpstreamUdp);
  h.reply(up, make_reply(up.bytes, {}, {}, {.tc = true}));
  Send tcp = h.only(SendKind::kToUpstreamTcp);
  CHECK(tcp.upstream_index == up.upstream_index);
  CHECK(tcp.to.transport == Transport::kTcp);
  CHECK(tcp.token != up.token);
  CHECK(h.engine->stats().tcp_retries == 1);
  PktPtr q = parse(tcp.bytes);  // no length prefix: the glue adds it
  CHECK(section(q.get(), LDNS_SECTION_QUESTION)[0] == "big.example.com. IN TXT");
  CHECK(h.out.next_wakeup == h.now + 3000ms);
  Peer from = tcp.to;
  h.reply_from(from, tcp.token, make_reply(tcp.bytes, {"big.example.com. 300 IN TXT \"hello\""}));
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_id(r.get()) == 11);
  CHECK(ldns_pkt_ancount(r.get()) == 1);
  CHECK_FALSE(ldns_pkt_tc(r.get()));
}

TEST_CASE("DO, CD and AD bits and RRSIGs are passed through") {
  Harness h;
  QueryOpts qo{.id = 21, .edns = true, .do_bit = true, .cd = true};
  h.ask("sec.example.com.", LDNS_RR_TYPE_A, qo);
  Send up = h.only(SendKind::kToUpstreamUdp);
  PktPtr q = parse(up.bytes);
  CHECK(ldns_pkt_edns_do(q.get()));
  CHECK(ldns_pkt_cd(q.get()));
  h.reply(up, make_reply(up.bytes,
                         {"sec.example.com. 300 IN A 192.0.2.1",
                          "sec.example.com. 300 IN RRSIG A 13 3 300 20300101000000 20200101000000 12345 "
                          "example.com. dGVzdHNpZ25hdHVyZQ=="},
                         {}, {.ad = true}));
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_ad(r.get()));
  CHECK(ldns_pkt_cd(r.get()));
  CHECK(ldns_pkt_edns_do(r.get()));
  CHECK(ldns_pkt_ancount(r.get()) == 2);
  CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(r.get()), 1)) == LDNS_RR_TYPE_RRSIG);
  // A CD=0 client does not share the CD=1 entry.
  h.ask("sec.example.com.", LDNS_RR_TYPE_A, {.edns = true, .do_bit = true});
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("AD is only set for clients that asked for it") {
  Harness h;
  h.resolve("ad.example.com.", LDNS_RR_TYPE_A, {"ad.example.com. 300 IN A 192.0.2.1"}, {}, {.ad = true});
  h.ask("ad.example.com.", LDNS_RR_TYPE_A);
  CHECK_FALSE(ldns_pkt_ad(h.only_client_reply().get()));
  h.ask("ad.example.com.", LDNS_RR_TYPE_A, {.ad = true});
  CHECK(ldns_pkt_ad(h.only_client_reply().get()));
}

}  // namespace portico::dnscache::test

namespace portico::dnscache::test {

TEST_CASE("an upstream error ends the attempt at once: next upstream, then SERVFAIL") {
  Harness h;
  h.ask("e.example.com.", LDNS_RR_TYPE_A, {.id = 9});
  Send a = h.only(SendKind::kToUpstreamUdp);
  h.engine->on_upstream_error(a.token, h.now, h.out);  // ICMP port unreachable, say
  Send b = h.only(SendKind::kToUpstreamUdp);
  CHECK(b.upstream_index != a.upstream_index);
  REQUIRE(h.out.released().size() == 1);
  CHECK(h.out.released()[0] == a.token);
  CHECK(h.engine->stats().upstreams[a.upstream_index].failures == 1);
  h.engine->on_upstream_error(b.token, h.now, h.out);
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_id(r.get()) == 9);
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_SERVFAIL);
  CHECK(h.engine->stats().upstream_timeouts == 0);
  CHECK(h.engine->outstanding() == 0);
  // An error for a token already finished (or never issued) changes nothing.
  h.engine->on_upstream_error(b.token, h.now, h.out);
  CHECK(h.out.sends().empty());
  h.engine->on_upstream_error(987654, h.now, h.out);
  CHECK(h.out.sends().empty());
}

TEST_CASE("a reply still truncated over TCP is no answer: the next upstream is asked") {
  Harness h;
  h.ask("tc.example.com.", LDNS_RR_TYPE_TXT, {.id = 12});
  Send up = h.only(SendKind::kToUpstreamUdp);
  h.reply(up, make_reply(up.bytes, {}, {}, {.tc = true}));
  Send tcp = h.only(SendKind::kToUpstreamTcp);
  h.reply_from(tcp.to, tcp.token, make_reply(tcp.bytes, {}, {}, {.tc = true}));
  Send next = h.only(SendKind::kToUpstreamUdp);
  CHECK(next.upstream_index != tcp.upstream_index);
  h.now += 1500ms;
  h.tick();
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_SERVFAIL);
  CHECK_FALSE(ldns_pkt_tc(r.get()));
}

TEST_CASE("a TTL with the top bit set counts as 0 (RFC 2181 8): passed on as 0, not cached") {
  Harness h;
  PktPtr r = h.resolve("neg.example.com.", LDNS_RR_TYPE_A, {"neg.example.com. 2147483649 IN A 192.0.2.7"});
  REQUIRE(ldns_pkt_ancount(r.get()) == 1);
  CHECK(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r.get()), 0)) == 0);
  h.ask("neg.example.com.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);  // not served from the cache
  CHECK(h.engine->stats().cache_hits == 0);
}

TEST_CASE("questions no server answers are refused before any lookup, never forwarded") {
  Harness h;
  auto rcode_of = [&](uint16_t type, uint16_t klass) {
    std::vector<uint8_t> w = make_query("q.example.com.", LDNS_RR_TYPE_A, {.id = 0x4444});
    // The question's TYPE and CLASS are its last four bytes (no EDNS).
    ldns_write_uint16(w.data() + w.size() - 4, type);
    ldns_write_uint16(w.data() + w.size() - 2, klass);
    h.query(w);
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_id(r.get()) == 0x4444);
    return ldns_pkt_get_rcode(r.get());
  };
  CHECK(rcode_of(0, LDNS_RR_CLASS_IN) == LDNS_RCODE_FORMERR);
  CHECK(rcode_of(LDNS_RR_TYPE_A, 0) == LDNS_RCODE_FORMERR);
  CHECK(rcode_of(LDNS_RR_TYPE_OPT, LDNS_RR_CLASS_IN) == LDNS_RCODE_FORMERR);
  CHECK(rcode_of(LDNS_RR_TYPE_TSIG, LDNS_RR_CLASS_IN) == LDNS_RCODE_FORMERR);
  CHECK(rcode_of(LDNS_RR_TYPE_TKEY, LDNS_RR_CLASS_IN) == LDNS_RCODE_FORMERR);
  CHECK(rcode_of(200, LDNS_RR_CLASS_IN) == LDNS_RCODE_FORMERR);
  CHECK(rcode_of(LDNS_RR_TYPE_MAILA, LDNS_RR_CLASS_IN) == LDNS_RCODE_NOTIMPL);
  CHECK(rcode_of(LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN) == LDNS_RCODE_REFUSED);
  CHECK(rcode_of(LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH) == LDNS_RCODE_REFUSED);
  CHECK(rcode_of(LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_HS) == LDNS_RCODE_REFUSED);
  CHECK(h.engine->outstanding() == 0);
  // Ordinary types, including ones ldns knows nothing of, still go upstream.
  for (uint16_t type : {uint16_t{LDNS_RR_TYPE_A}, uint16_t{65}, uint16_t{127}, uint16_t{256}, uint16_t{65280}}) {
    std::vector<uint8_t> w = make_query("q.example.com.", LDNS_RR_TYPE_A);
    ldns_write_uint16(w.data() + w.size() - 4, type);
    h.query(w);
    Send up = h.only(SendKind::kToUpstreamUdp);
    PktPtr q = parse(up.bytes);
    CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(q.get()), 0)) == type);
  }
}

}  // namespace portico::dnscache::test
