#include <doctest/doctest.h>

#include <algorithm>

#include "tests/unit/mdns/solo.hpp"

using namespace portico::mdns;
using namespace portico::mdns::test;

namespace {

const IpAddress kPeer = IpAddress::v4(127, 0, 0, 9);

bool has(const std::vector<Record>& rs, uint16_t type, const std::string& name) {
  return std::any_of(rs.begin(), rs.end(), [&](const Record& r) { return r.type == type && name_equal(r.name, N(name)); });
}

void establish(Solo& s) {
  s.start(kT0);
  s.run(at(3000));
  REQUIRE(s.engine.established());
  s.sent.clear();
}

}  // namespace

TEST_CASE("probing and announcing follow the RFC 6762 timeline exactly") {
  Lan lan;
  FixedRandom rnd;
  Engine e(web_host(), rnd);
  lan.add(e, IpAddress::v4(127, 0, 0, 2));
  lan.start_all();
  CHECK(lan.nodes[0].wake == at(100));  // random 0-250 ms -> 100
  lan.run_until(at(10000));
  auto sent = lan.sent_by(0);
  std::vector<int64_t> times;
  for (const auto& s : sent) times.push_back(ms_since_t0(s.when));
  CHECK(times == std::vector<int64_t>{100, 350, 600, 850, 1850});
  CHECK(e.established());
  CHECK(lan.nodes[0].wake == kNever);  // no periodic announcements

  for (int i = 0; i < 3; ++i) {  // probes
    auto m = decode_ok(sent[size_t(i)].packet);
    CHECK_FALSE(m.qr);
    REQUIRE(m.questions.size() == 2);
    CHECK(m.questions[0].type == rrtype::kAny);
    CHECK(m.questions[0].unicast_response == (i == 0));
    CHECK(has(m.authority, rrtype::kA, "portico.local"));
    CHECK(has(m.authority, rrtype::kSrv, "Portico web._http._tcp.local"));
    CHECK(has(m.authority, rrtype::kTxt, "Portico web._http._tcp.local"));
    CHECK(sent[size_t(i)].packet.dst.kind == Destination::Kind::kMulticastV4);
  }
  for (int i = 3; i < 5; ++i) {  // announcements
    auto m = decode_ok(sent[size_t(i)].packet);
    CHECK(m.qr);
    CHECK(m.aa);
    CHECK(m.id == 0);
    CHECK(m.questions.empty());
    for (const auto& r : m.answers) {
      bool shared = r.type == rrtype::kPtr;
      CHECK(r.cache_flush == !shared);
      uint32_t want = (r.type == rrtype::kA || r.type == rrtype::kSrv) ? 120u : 4500u;
      CHECK(r.ttl == want);
    }
    CHECK(has(m.answers, rrtype::kA, "portico.local"));
    CHECK(has(m.answers, rrtype::kPtr, "_http._tcp.local"));
    CHECK(has(m.answers, rrtype::kPtr, "_printer._sub._http._tcp.local"));
    CHECK(has(m.answers, rrtype::kPtr, "_services._dns-sd._udp.local"));
    CHECK(has(m.answers, rrtype::kSrv, "Portico web._http._tcp.local"));
    CHECK(has(m.answers, rrtype::kTxt, "Portico web._http._tcp.local"));
  }
}

TEST_CASE("a service without TXT keys publishes one empty string") {
  Options o = host_options("portico", IpAddress::v4(127, 0, 0, 2));
  auto svc = web_service();
  svc.txt.clear();
  o.services.push_back(svc);
  Solo s(o);
  s.start(kT0);
  s.run(at(3000));
  auto m = decode_ok(s.sent.back().second);
  auto txt = of_type(m.answers, rrtype::kTxt);
  REQUIRE(txt.size() == 1);
  CHECK(txt[0].rdata == std::vector<uint8_t>{0});
}

TEST_CASE("simultaneous probe: the lexicographically earlier host defers 1 s") {
  Options o = host_options("portico", IpAddress::v4(127, 0, 0, 5));
  Solo s(o);
  s.start(kT0);
  s.run(at(100));
  REQUIRE(s.sent.size() == 1);

  SUBCASE("losing: their A rdata is greater") {
    Message probe;
    probe.questions.push_back({N("portico.local"), rrtype::kAny, kClassIn, true});
    probe.authority.push_back(Record{N("portico.local"), rrtype::kA, kClassIn, false, 120, {127, 0, 0, 7}});
    s.feed(encode(probe), mdns_source(kPeer), at(150));
    CHECK(s.engine.stats().tiebreaks_lost == 1);
    CHECK(s.wake == at(1150));
    s.run(at(1150));
    REQUIRE(s.sent.size() == 2);
    CHECK(s.sent[1].first == at(1150));
    CHECK(decode_ok(s.sent[1].second).questions[0].unicast_response);  // probing starts over
  }
  SUBCASE("winning: their A rdata is smaller") {
    Message probe;
    probe.questions.push_back({N("portico.local"), rrtype::kAny, kClassIn, true});
    probe.authority.push_back(Record{N("portico.local"), rrtype::kA, kClassIn, false, 120, {127, 0, 0, 3}});
    s.feed(encode(probe), mdns_source(kPeer), at(150));
    CHECK(s.engine.stats().tiebreaks_lost == 0);
    CHECK(s.wake == at(350));
  }
  SUBCASE("identical records (our own probe looped back) are no conflict") {
    s.feed(s.sent[0].second.bytes, mdns_source(IpAddress::v4(127, 0, 0, 5)), at(101));
    CHECK(s.engine.stats().tiebreaks_lost == 0);
    CHECK(s.wake == at(350));
  }
}

TEST_CASE("two hosts probing the same name at once: the loser renames after the tie-break") {
  FixedRandom r1, r2;
  Engine a(host_options("portico", IpAddress::v4(127, 0, 0, 2)), r1);
  Engine b(host_options("portico", IpAddress::v4(127, 0, 0, 3)), r2);
  Lan lan;
  lan.add(a, IpAddress::v4(127, 0, 0, 2));
  lan.add(b, IpAddress::v4(127, 0, 0, 3));
  lan.start_all();
  lan.run_until(at(20000));
  CHECK(b.hostname() == "portico");
  CHECK(a.hostname() == "portico-2");
  CHECK(a.established());
  CHECK(b.established());
  CHECK(a.stats().tiebreaks_lost >= 1);
  CHECK(b.stats().conflicts == 0);
}

TEST_CASE("two hosts publishing the same service instance: one becomes \"Name (2)\"") {
  FixedRandom r1, r2;
  Options oa = host_options("alpha", IpAddress::v4(127, 0, 0, 2));
  Options ob = host_options("beta", IpAddress::v4(127, 0, 0, 3));
  oa.services.push_back(web_service("Web"));
  ob.services.push_back(web_service("Web"));
  Engine a(oa, r1), b(ob, r2);
  Lan lan;
  lan.add(a, IpAddress::v4(127, 0, 0, 2));
  lan.add(b, IpAddress::v4(127, 0, 0, 3));
  lan.start_all();
  lan.run_until(at(20000));
  auto na = a.service_names(), nb = b.service_names();
  REQUIRE(na.size() == 1);
  REQUIRE(nb.size() == 1);
  CHECK(na[0] != nb[0]);
  CHECK(((na[0] == "Web" && nb[0] == "Web (2)") || (na[0] == "Web (2)" && nb[0] == "Web")));
  CHECK(a.established());
  CHECK(b.established());
}

TEST_CASE("a conflicting response after announcing renames the host and probes again") {
  Solo s(web_host());
  establish(s);
  Record other{N("portico.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 9}};
  s.feed(response_bytes({other}), mdns_source(kPeer), at(5000));
  CHECK(s.engine.hostname() == "portico-2");
  CHECK(s.engine.stats().conflicts == 1);
  s.run(at(10000));
  CHECK(s.engine.established());
  auto probes = s.since(at(5000));
  REQUIRE(probes.size() >= 4);
  auto first = decode_ok(probes[0].second);
  CHECK(has(first.questions.empty() ? first.answers : first.authority, rrtype::kA, "portico-2.local"));
  // The service's SRV now targets the new name.
  auto last = decode_ok(s.sent.back().second);
  auto srv = of_type(last.answers, rrtype::kSrv);
  REQUIRE_FALSE(srv.empty());
  CHECK(name_equal(parse_srv(srv[0].rdata)->target, N("portico-2.local")));
  SUBCASE("the same record again is no conflict") {
    Record mine{N("portico-2.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 2}};
    s.feed(response_bytes({mine}), mdns_source(kPeer), at(11000));
    CHECK(s.engine.hostname() == "portico-2");
  }
}

TEST_CASE("a response for our name during probing is a conflict") {
  Solo s(web_host());
  s.start(kT0);
  s.run(at(350));
  Record other{N("Portico web._http._tcp.local"), rrtype::kSrv, kClassIn, true, 120,
               rdata_srv(0, 0, 80, N("elsewhere.local"))};
  s.feed(response_bytes({other}), mdns_source(kPeer), at(400));
  CHECK(s.engine.service_names() == std::vector<std::string>{"Portico web (2)"});
  CHECK(s.engine.hostname() == "portico");
}

TEST_CASE("answers: PTR query gets delayed answer with SRV, TXT and A as additional records") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("_http._tcp.local", rrtype::kPtr), mdns_source(kPeer), at(5000));
  CHECK(s.sent.empty());         // shared answer: 20-120 ms delay
  CHECK(s.wake == at(5120));
  s.run(at(5200));
  REQUIRE(s.sent.size() == 1);
  CHECK(s.sent[0].first == at(5120));
  auto m = decode_ok(s.sent[0].second);
  CHECK(m.id == 0);
  CHECK(m.questions.empty());
  REQUIRE(m.answers.size() == 1);
  CHECK(m.answers[0].type == rrtype::kPtr);
  CHECK_FALSE(m.answers[0].cache_flush);
  CHECK(has(m.additional, rrtype::kSrv, "Portico web._http._tcp.local"));
  CHECK(has(m.additional, rrtype::kTxt, "Portico web._http._tcp.local"));
  CHECK(has(m.additional, rrtype::kA, "portico.local"));
  CHECK(has(m.additional, rrtype::kNsec, "portico.local"));  // no AAAA
  for (const auto& r : m.additional) CHECK(r.cache_flush);
}

TEST_CASE("answers: unique-only answers go out at once; SRV brings the address") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("Portico web._http._tcp.local", rrtype::kSrv), mdns_source(kPeer), at(5000));
  REQUIRE(s.sent.size() == 1);
  auto m = decode_ok(s.sent[0].second);
  CHECK(has(m.answers, rrtype::kSrv, "Portico web._http._tcp.local"));
  CHECK(has(m.additional, rrtype::kA, "portico.local"));
  CHECK(s.sent[0].second.dst.kind == Destination::Kind::kMulticastV4);
}

TEST_CASE("answers: ANY, subtypes and service enumeration") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("Portico web._http._tcp.local", rrtype::kAny), mdns_source(kPeer), at(5000));
  REQUIRE(s.sent.size() == 1);
  auto any = decode_ok(s.sent[0].second);
  CHECK(has(any.answers, rrtype::kSrv, "Portico web._http._tcp.local"));
  CHECK(has(any.answers, rrtype::kTxt, "Portico web._http._tcp.local"));
  CHECK_FALSE(has(any.answers, rrtype::kNsec, "Portico web._http._tcp.local"));

  s.feed(query_bytes("_services._dns-sd._udp.local", rrtype::kPtr), mdns_source(kPeer), at(6000));
  s.run(at(6200));
  auto e = decode_ok(s.sent.back().second);
  REQUIRE(e.answers.size() == 1);
  CHECK(name_equal(*parse_ptr(e.answers[0].rdata), N("_http._tcp.local")));

  s.feed(query_bytes("_printer._sub._http._tcp.local", rrtype::kPtr), mdns_source(kPeer), at(7000));
  s.run(at(7200));
  auto sub = decode_ok(s.sent.back().second);
  REQUIRE(sub.answers.size() == 1);
  CHECK(name_equal(*parse_ptr(sub.answers[0].rdata), N("Portico web._http._tcp.local")));
}

TEST_CASE("negative answer: NSEC for a type we do not have, in the additional section") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("portico.local", rrtype::kAaaa), mdns_source(kPeer), at(5000));
  REQUIRE(s.sent.size() == 1);
  auto m = decode_ok(s.sent[0].second);
  CHECK(m.answers.empty());
  auto nsec = of_type(m.additional, rrtype::kNsec);
  REQUIRE(nsec.size() == 1);
  CHECK(nsec[0].cache_flush);
  // next domain = owner; bitmap window 0 holds A (bit 1) and not AAAA (type 28)
  Name owner = N("portico.local");
  REQUIRE(nsec[0].rdata.size() > owner.size() + 2);
  CHECK(nsec[0].rdata[owner.size()] == 0);
  CHECK((nsec[0].rdata[owner.size() + 2] & 0x40) != 0);
  size_t bitmap_len = nsec[0].rdata[owner.size() + 1];
  CHECK(bitmap_len < 4);  // AAAA would need 4 bytes
  // Names we do not own get no answer at all.
  s.feed(query_bytes("other.local", rrtype::kA), mdns_source(kPeer), at(6000));
  s.run(at(7000));
  CHECK(s.sent.size() == 1);
}

TEST_CASE("known-answer suppression drops answers the querier already has with >= half TTL") {
  Solo s(web_host());
  establish(s);
  Record known{N("_http._tcp.local"), rrtype::kPtr, kClassIn, false, 0, rdata_name(N("Portico web._http._tcp.local"))};
  known.ttl = 2250;  // exactly half of 4500: suppressed
  s.feed(query_bytes("_http._tcp.local", rrtype::kPtr, false, {known}), mdns_source(kPeer), at(5000));
  s.run(at(6000));
  CHECK(s.sent.empty());
  CHECK(s.engine.stats().answers_suppressed_known == 1);
  known.ttl = 2249;  // less than half: answered
  s.feed(query_bytes("_http._tcp.local", rrtype::kPtr, false, {known}), mdns_source(kPeer), at(7000));
  s.run(at(8000));
  CHECK(s.sent.size() == 1);
}

TEST_CASE("duplicate-answer suppression: another responder answered during our delay") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("_http._tcp.local", rrtype::kPtr), mdns_source(kPeer), at(5000));
  Record same{N("_http._tcp.local"), rrtype::kPtr, kClassIn, false, 4500, rdata_name(N("Portico web._http._tcp.local"))};
  s.feed(response_bytes({same}), mdns_source(IpAddress::v4(127, 0, 0, 10)), at(5050));
  s.run(at(6000));
  CHECK(s.sent.empty());
  CHECK(s.engine.stats().answers_suppressed_duplicate == 1);
}

TEST_CASE("a record is multicast at most once per second") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("portico.local", rrtype::kA), mdns_source(kPeer), at(5000));
  s.feed(query_bytes("portico.local", rrtype::kA), mdns_source(kPeer), at(5500));
  s.feed(query_bytes("portico.local", rrtype::kA), mdns_source(kPeer), at(6000));
  REQUIRE(s.sent.size() == 2);
  CHECK(s.sent[0].first == at(5000));
  CHECK(s.sent[1].first == at(6000));
  CHECK(s.engine.stats().answers_rate_limited == 1);
}

TEST_CASE("QU question is answered by unicast to the querier at once") {
  Solo s(web_host());
  establish(s);
  s.feed(query_bytes("_http._tcp.local", rrtype::kPtr, true, {}, 77), mdns_source(kPeer), at(5000));
  REQUIRE(s.sent.size() == 1);
  const auto& p = s.sent[0].second;
  CHECK(p.dst.kind == Destination::Kind::kUnicast);
  CHECK(p.dst.unicast == Endpoint{kPeer, kMdnsPort});
  auto m = decode_ok(p);
  CHECK(m.id == 77);
  CHECK(m.qr);
  CHECK(has(m.answers, rrtype::kPtr, "_http._tcp.local"));
}

TEST_CASE("legacy unicast query: ID and question echoed, TTL capped at 10 s, no cache-flush bit") {
  Solo s(web_host());
  establish(s);
  Source legacy{{kPeer, 40000}, 1, 64, true, true};  // any TTL is fine for legacy queries
  s.feed(query_bytes("Portico web._http._tcp.local", rrtype::kSrv, false, {}, 0x1234), legacy, at(5000));
  REQUIRE(s.sent.size() == 1);
  const auto& p = s.sent[0].second;
  CHECK(p.dst == Destination::to({kPeer, 40000}));
  auto m = decode_ok(p);
  CHECK(m.id == 0x1234);
  REQUIRE(m.questions.size() == 1);
  CHECK(name_equal(m.questions[0].name, N("Portico web._http._tcp.local")));
  REQUIRE_FALSE(m.answers.empty());
  for (const auto* sec : {&m.answers, &m.additional})
    for (const auto& r : *sec) {
      CHECK(r.ttl <= 10);
      CHECK_FALSE(r.cache_flush);
    }
  CHECK(s.engine.stats().legacy_queries == 1);
}

TEST_CASE("probe for an established name is defended at once") {
  Solo s(web_host());
  establish(s);
  Message probe;
  probe.questions.push_back({N("portico.local"), rrtype::kAny, kClassIn, false});
  probe.authority.push_back(Record{N("portico.local"), rrtype::kA, kClassIn, false, 120, {127, 0, 0, 9}});
  s.feed(encode(probe), mdns_source(kPeer), at(5000));
  REQUIRE(s.sent.size() == 1);
  CHECK(has(decode_ok(s.sent[0].second).answers, rrtype::kA, "portico.local"));
  s.feed(encode(probe), mdns_source(kPeer), at(5250));  // probes come 250 ms apart
  CHECK(s.sent.size() == 2);
  CHECK(s.engine.hostname() == "portico");
}

TEST_CASE("goodbyes: stop sends every record with TTL 0; remove_service only its own") {
  SUBCASE("stop") {
    Solo s(web_host());
    establish(s);
    s.stop(at(5000));
    REQUIRE(s.sent.size() == 1);
    auto m = decode_ok(s.sent[0].second);
    CHECK(has(m.answers, rrtype::kA, "portico.local"));
    CHECK(has(m.answers, rrtype::kPtr, "_http._tcp.local"));
    CHECK(has(m.answers, rrtype::kSrv, "Portico web._http._tcp.local"));
    for (const auto& r : m.answers) CHECK(r.ttl == 0);
    CHECK(s.wake == kNever);
    s.feed(query_bytes("portico.local", rrtype::kA), mdns_source(kPeer), at(6000));
    CHECK(s.sent.size() == 1);  // silent after stop
  }
  SUBCASE("remove_service") {
    Solo s(web_host());
    establish(s);
    Actions a;
    CHECK(s.engine.remove_service("Portico web", "_http._tcp", at(5000), a));
    s.take(at(5000), a);
    REQUIRE(s.sent.size() == 1);
    auto m = decode_ok(s.sent[0].second);
    CHECK(has(m.answers, rrtype::kPtr, "_http._tcp.local"));
    CHECK(has(m.answers, rrtype::kPtr, "_services._dns-sd._udp.local"));
    CHECK_FALSE(has(m.answers, rrtype::kA, "portico.local"));
    for (const auto& r : m.answers) CHECK(r.ttl == 0);
    s.feed(query_bytes("_http._tcp.local", rrtype::kPtr), mdns_source(kPeer), at(6000));
    s.run(at(7000));
    CHECK(s.sent.size() == 1);
    CHECK_FALSE(s.engine.remove_service("Portico web", "_http._tcp", at(8000), a));
  }
}

TEST_CASE("add_service after start probes the new service only") {
  Solo s(web_host());
  establish(s);
  Actions a;
  CHECK(s.engine.add_service(web_service("Second", 9090), at(5000), a));
  s.take(at(5000), a);
  CHECK_FALSE(s.engine.add_service(web_service("Second", 9090), at(5000), a));  // duplicate
  s.run(at(9000));
  CHECK(s.engine.established());
  auto probe = decode_ok(s.sent.front().second);
  REQUIRE(probe.questions.size() == 1);
  CHECK(name_equal(probe.questions[0].name, N("Second._http._tcp.local")));
}

TEST_CASE("many services: probes and announcements are split to fit the packet size") {
  Options o = host_options("portico", IpAddress::v4(127, 0, 0, 2));
  for (int i = 0; i < 100; ++i) o.services.push_back(web_service("Service number " + std::to_string(i), uint16_t(8000 + i)));
  Solo s(o);
  s.start(kT0);
  s.run(at(5000));
  CHECK(s.engine.established());
  size_t questions = 0;
  for (const auto& [t, p] : s.sent) {
    CHECK(p.bytes.size() <= o.limits.max_packet_size);
    if (t == at(100)) questions += decode_ok(p).questions.size();
  }
  CHECK(questions == 101);
}
