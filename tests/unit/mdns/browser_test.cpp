#include <doctest/doctest.h>

#include <algorithm>

#include "tests/unit/mdns/solo.hpp"

using namespace portico::mdns;
using namespace portico::mdns::test;

namespace {

const IpAddress kServer = IpAddress::v4(127, 0, 0, 2);
const IpAddress kClient = IpAddress::v4(127, 0, 0, 3);

Options browser_options() {
  Options o = host_options("client", kClient);
  o.browse = {"_http._tcp"};
  return o;
}

// Records a responder "test.local" would send for instance `inst` with the given TTL.
std::vector<Record> service_records(const std::string& inst, uint32_t ttl, uint16_t port = 80,
                                    uint16_t prio = 0, uint16_t weight = 0) {
  Name full = name_prepend(inst, N("_http._tcp.local"));
  return {
      Record{N("_http._tcp.local"), rrtype::kPtr, kClassIn, false, ttl, rdata_name(full)},
      Record{full, rrtype::kSrv, kClassIn, true, ttl, rdata_srv(prio, weight, port, N("test.local"))},
      Record{full, rrtype::kTxt, kClassIn, true, ttl, rdata_txt({"a=1"})},
      Record{N("test.local"), rrtype::kA, kClassIn, true, ttl, {127, 0, 0, 4}},
  };
}

std::vector<int64_t> query_times(const Solo& s, uint16_t type, const std::string& name) {
  std::vector<int64_t> out;
  for (const auto& [t, p] : s.sent) {
    auto m = decode_ok(p);
    if (m.qr) continue;
    for (const auto& q : m.questions)
      if (q.type == type && name_equal(q.name, N(name))) out.push_back(ms_since_t0(t));
  }
  return out;
}

}  // namespace

TEST_CASE("browser resolves an instance announced by another engine") {
  FixedRandom r1, r2;
  Options so = host_options("server", kServer);
  auto svc = web_service();
  svc.priority = 3;
  svc.weight = 7;
  so.services.push_back(svc);
  Engine server(so, r1), client(browser_options(), r2);
  Lan lan;
  lan.add(server, kServer);
  lan.add(client, kClient);
  lan.start_all();
  lan.run_until(at(10000));
  const auto& list = client.instances("_http._tcp");
  REQUIRE(list.size() == 1);
  const auto& i = list[0];
  CHECK(i.name == "Portico web");
  CHECK(i.type == "_http._tcp");
  CHECK(i.host == "server.local");
  CHECK(i.port == 8080);
  CHECK(i.priority == 3);
  CHECK(i.weight == 7);
  CHECK(i.addresses == std::vector<IpAddress>{kServer});
  CHECK(i.txt == std::vector<TxtEntry>{{"path", "/", true}});
  CHECK(i.ifindex == 1);
  auto& ev = lan.nodes[1].events;
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == BrowseEvent::Kind::kAdded);
  CHECK(ev[0].instance == i);
  CHECK(client.instances("_ipp._tcp").empty());

  SUBCASE("goodbye removes the instance one second later") {
    Actions a;
    Time bye = at(20000);
    lan.run_until(bye);
    server.stop(bye, a);
    std::deque<Lan::Sent> q;
    lan.absorb(0, a, q);
    lan.flush(q);
    lan.run_until(bye + std::chrono::milliseconds(999));
    CHECK(client.instances("_http._tcp").size() == 1);
    lan.run_until(bye + std::chrono::milliseconds(1000));
    CHECK(client.instances("_http._tcp").empty());
    REQUIRE(ev.size() == 2);
    CHECK(ev[1].kind == BrowseEvent::Kind::kRemoved);
    CHECK(ev[1].instance.name == "Portico web");
  }
}

TEST_CASE("browse queries back off 1 s, 2 s, 4 s ... up to the cap") {
  Options o = browser_options();
  o.limits.max_query_interval = std::chrono::milliseconds(4000);
  Solo s(o);
  s.start(kT0);
  s.run(at(20000));
  CHECK(query_times(s, rrtype::kPtr, "_http._tcp.local") ==
        std::vector<int64_t>{120, 1120, 3120, 7120, 11120, 15120, 19120});
  int browse_queries = 0;
  for (const auto& [t, p] : s.sent) {
    CHECK(p.dst.kind == Destination::Kind::kMulticastV4);
    auto m = decode_ok(p);
    if (m.qr || m.questions.empty() || m.questions[0].type != rrtype::kPtr) continue;  // our host's probes
    ++browse_queries;
    CHECK_FALSE(m.questions[0].unicast_response);
    CHECK(m.id == 0);
  }
  CHECK(browse_queries == 7);
}

TEST_CASE("browse queries carry known answers with more than half their TTL left") {
  Solo s(browser_options());
  s.start(kT0);
  s.feed(response_bytes(service_records("One", 100)), mdns_source(kServer), at(500));
  s.run(at(1120));
  auto m = decode_ok(s.sent.back().second);
  REQUIRE(m.answers.size() == 1);
  CHECK(m.answers[0].type == rrtype::kPtr);
  CHECK(m.answers[0].ttl == 99);  // 100 s received at 0.5 s, asked at 1.12 s
  CHECK_FALSE(m.answers[0].cache_flush);
  s.run(at(63120));  // 37.4 s left of 100: below half, not listed
  m = decode_ok(s.sent.back().second);
  CHECK(ms_since_t0(s.sent.back().first) == 63120);
  CHECK(m.answers.empty());
}

TEST_CASE("cache: refresh queries at 80/85/90/95 % (+jitter), expiry at 100 %") {
  Solo s(browser_options());
  s.start(kT0);
  s.feed(response_bytes(service_records("One", 100)), mdns_source(kServer), at(500));
  REQUIRE(s.events.size() == 1);
  CHECK(s.events[0].kind == BrowseEvent::Kind::kAdded);
  s.run(at(200000));
  // jitter: FixedRandom gives 16 per mille = 1.6 % of 100 s
  auto srv = query_times(s, rrtype::kSrv, "One._http._tcp.local");
  CHECK(srv == std::vector<int64_t>{82100, 87100, 92100, 97100});
  auto a = query_times(s, rrtype::kA, "test.local");
  CHECK(a == std::vector<int64_t>{82100, 87100, 92100, 97100});
  auto ptr = query_times(s, rrtype::kPtr, "_http._tcp.local");
  for (int64_t t : {82100, 87100, 92100, 97100}) CHECK(std::count(ptr.begin(), ptr.end(), t) == 1);
  REQUIRE(s.events.size() == 2);
  CHECK(s.events[1].kind == BrowseEvent::Kind::kRemoved);
  CHECK(s.engine.instances("_http._tcp").empty());
  CHECK(s.engine.cache_size() == 0);
}

TEST_CASE("a fresh answer resets the refresh schedule") {
  Solo s(browser_options());
  s.start(kT0);
  s.feed(response_bytes(service_records("One", 100)), mdns_source(kServer), at(500));
  s.run(at(82100));
  s.feed(response_bytes(service_records("One", 100)), mdns_source(kServer), at(82200));
  s.run(at(165000));
  CHECK(s.engine.instances("_http._tcp").size() == 1);
  auto srv = query_times(s, rrtype::kSrv, "One._http._tcp.local");
  CHECK(srv == std::vector<int64_t>{82100, 82200 + 81600});
}

TEST_CASE("instances are ranked by SRV priority, then weight (higher first)") {
  Solo s(browser_options());
  s.start(kT0);
  auto recs = service_records("C", 4500, 80, 1, 100);
  auto b = service_records("B", 4500, 80, 0, 5);
  auto a = service_records("A", 4500, 80, 0, 50);
  recs.insert(recs.end(), b.begin(), b.end());
  recs.insert(recs.end(), a.begin(), a.end());
  s.feed(response_bytes(recs), mdns_source(kServer), at(500));
  const auto& list = s.engine.instances("_http._tcp");
  REQUIRE(list.size() == 3);
  CHECK(list[0].name == "A");
  CHECK(list[1].name == "B");
  CHECK(list[2].name == "C");
  CHECK(s.events.size() == 3);
}

TEST_CASE("updated event when TXT changes; cache-flush retires the old rdata one second later") {
  Solo s(browser_options());
  s.start(kT0);
  s.feed(response_bytes(service_records("One", 4500)), mdns_source(kServer), at(500));
  Record txt{N("One._http._tcp.local"), rrtype::kTxt, kClassIn, true, 4500, rdata_txt({"a=2"})};
  s.feed(response_bytes({txt}), mdns_source(kServer), at(5000));
  REQUIRE(s.events.size() == 2);
  CHECK(s.events[1].kind == BrowseEvent::Kind::kUpdated);
  CHECK(s.events[1].instance.txt == std::vector<TxtEntry>{{"a", "2", true}});
  Record addr{N("test.local"), rrtype::kA, kClassIn, true, 4500, {127, 0, 0, 8}};
  s.feed(response_bytes({addr}), mdns_source(kServer), at(6000));
  REQUIRE(s.events.size() == 3);
  CHECK(s.events[2].instance.addresses.size() == 2);  // old one still valid for 1 s
  s.run(at(7000));
  REQUIRE(s.events.size() == 4);
  CHECK(s.events[3].instance.addresses == std::vector<IpAddress>{IpAddress::v4(127, 0, 0, 8)});
}

TEST_CASE("unresolved instances trigger SRV/TXT/address queries, at most three times") {
  Solo s(browser_options());
  s.start(kT0);
  Record ptr{N("_http._tcp.local"), rrtype::kPtr, kClassIn, false, 4500, rdata_name(N("Lone._http._tcp.local"))};
  s.feed(response_bytes({ptr}), mdns_source(kServer), at(500));
  CHECK(s.events.empty());
  s.run(at(30000));
  CHECK(query_times(s, rrtype::kSrv, "Lone._http._tcp.local") == std::vector<int64_t>{620, 2620, 6620});
  CHECK(query_times(s, rrtype::kTxt, "Lone._http._tcp.local").size() == 3);
}

TEST_CASE("cache size is bounded") {
  Options o = browser_options();
  o.limits.max_cache_entries = 8;
  Solo s(o);
  s.start(kT0);
  for (int i = 0; i < 20; ++i) {
    std::string name = "S";
    name += std::to_string(i);
    s.feed(response_bytes(service_records(name, 4500)), mdns_source(kServer), at(500 + i));
  }
  CHECK(s.engine.cache_size() <= 8);
  CHECK(s.engine.stats().cache_evictions > 0);
}

TEST_CASE("records unrelated to browse types are not cached") {
  Solo s(browser_options());
  s.start(kT0);
  Record other{N("_ipp._tcp.local"), rrtype::kPtr, kClassIn, false, 4500, rdata_name(N("P._ipp._tcp.local"))};
  Record addr{N("random.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 1}};
  s.feed(response_bytes({other, addr}), mdns_source(kServer), at(500));
  CHECK(s.engine.cache_size() == 0);
}

TEST_CASE("compressed names in PTR and SRV rdata (as Avahi sends them) are decompressed") {
  // 4 answers: PTR _http._tcp.local -> Test.<ptr:12>; SRV at <ptr:40> -> avahi.<ptr:23 "local">;
  // TXT "path=/"; A avahi.local (<ptr:65>) 127.0.0.5. Offsets are noted per record.
  std::vector<uint8_t> pkt = {
      0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
      // @12 owner _http._tcp.local
      5, '_', 'h', 't', 't', 'p', 4, '_', 't', 'c', 'p', 5, 'l', 'o', 'c', 'a', 'l', 0,
      0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x11, 0x94, 0x00, 0x07,
      // @40 rdata: Test + pointer to 12
      4, 'T', 'e', 's', 't', 0xc0, 0x0c,
      // @47 SRV, owner pointer to 40
      0xc0, 0x28, 0x00, 0x21, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x0e,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x50,
      // @65 target avahi + pointer to 23 ("local")
      5, 'a', 'v', 'a', 'h', 'i', 0xc0, 0x17,
      // @73 TXT
      0xc0, 0x28, 0x00, 0x10, 0x80, 0x01, 0x00, 0x00, 0x11, 0x94, 0x00, 0x07,
      6, 'p', 'a', 't', 'h', '=', '/',
      // @92 A, owner pointer to 65
      0xc0, 0x41, 0x00, 0x01, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x04, 127, 0, 0, 5};
  auto m = decode(pkt);
  REQUIRE(m);
  REQUIRE(m->answers.size() == 4);
  CHECK(name_equal(*parse_ptr(m->answers[0].rdata), N("Test._http._tcp.local")));
  auto srv = parse_srv(m->answers[1].rdata);
  REQUIRE(srv);
  CHECK(name_equal(srv->target, N("avahi.local")));
  CHECK(srv->port == 80);
  CHECK(m->answers[1].cache_flush);
  CHECK(name_equal(m->answers[3].name, N("avahi.local")));

  Solo s(browser_options());
  s.start(kT0);
  s.feed(pkt, mdns_source(kServer), at(500));
  const auto& list = s.engine.instances("_http._tcp");
  REQUIRE(list.size() == 1);
  CHECK(list[0].name == "Test");
  CHECK(list[0].host == "avahi.local");
  CHECK(list[0].port == 80);
  CHECK(list[0].addresses == std::vector<IpAddress>{IpAddress::v4(127, 0, 0, 5)});
  CHECK(list[0].txt == std::vector<TxtEntry>{{"path", "/", true}});
}
