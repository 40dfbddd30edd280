// Micro-benchmarks of the dnscache Engine: ns per client query answered from the
// cache (the hot path, which should not allocate once warm), from local data, and
// a full miss + upstream reply round.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dnscache/engine.hpp"
#include "dnscache/ldns_ptr.hpp"

namespace {

using namespace portico::dnscache;

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* s = reinterpret_cast<sockaddr_in*>(&ss);
  s->sin_family = AF_INET;
  s->sin_port = htons(port);
  inet_pton(AF_INET, ip, &s->sin_addr);
  return ss;
}

std::vector<uint8_t> wire(ldns_pkt* p) {
  uint8_t* w = nullptr;
  size_t n = 0;
  ldns_pkt2wire(&w, p, &n);
  std::vector<uint8_t> v(w, w + n);
  LDNS_FREE(w);
  return v;
}

std::vector<uint8_t> query(const char* name, bool edns) {
  PktPtr p(ldns_pkt_query_new(ldns_dname_new_frm_str(name), LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_id(p.get(), 0x1234);
  if (edns) ldns_pkt_set_edns_udp_size(p.get(), 1232);
  return wire(p.get());
}

std::vector<uint8_t> reply_to(const std::vector<uint8_t>& q, int answers) {
  ldns_pkt* raw = nullptr;
  ldns_wire2pkt(&raw, q.data(), q.size());
  PktPtr in(raw);
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_id(p.get(), ldns_pkt_id(in.get()));
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_ra(p.get(), true);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(in.get()), 0)));
  for (int i = 0; i < answers; ++i) {
    ldns_rr* rr = nullptr;
    const std::string text = "www.example.com. 3600 IN A 192.0.2." + std::to_string(i + 1);
    ldns_rr_new_frm_str(&rr, text.c_str(), 3600, nullptr, nullptr);
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, rr);
  }
  return wire(p.get());
}

struct Fixture {
  Fixture() : rng(1) {
    Options o;
    o.upstreams = {v4("127.0.0.53", 53)};
    o.records = {"local.example. 300 IN A 127.0.0.1"};
    o.prefetch = false;
    std::string err;
    engine = Engine::create(o, rng, err);
    if (!engine) std::abort();
    client.addr = v4("127.0.0.1", 40000);
    client.len = sizeof(sockaddr_in);
  }
  void warm(const std::vector<uint8_t>& q, int answers) {
    engine->on_client_query(q, client, now, out);
    const Send up = out.sends()[0];
    engine->on_upstream_reply(reply_to(up.bytes, answers), up.to, up.token, now, out);
  }
  SeededRandom rng;
  std::unique_ptr<Engine> engine;
  Actions out;
  Peer client;
  Time now{std::chrono::seconds(1)};
};

void BM_CacheHit(benchmark::State& state) {
  Fixture f;
  const auto q = query("www.example.com.", state.range(0) != 0);
  f.warm(q, 4);
  for (auto _ : state) {
    f.engine->on_client_query(q, f.client, f.now, f.out);
    benchmark::DoNotOptimize(f.out.sends().data());
  }
  if (f.engine->stats().cache_hits < static_cast<uint64_t>(state.iterations())) state.SkipWithError("not a hit");
}
BENCHMARK(BM_CacheHit)->Arg(0)->Arg(1)->ArgName("edns");

void BM_LocalAnswer(benchmark::State& state) {
  Fixture f;
  const auto q = query("local.example.", true);
  for (auto _ : state) {
    f.engine->on_client_query(q, f.client, f.now, f.out);
    benchmark::DoNotOptimize(f.out.sends().data());
  }
}
BENCHMARK(BM_LocalAnswer);

void BM_MissAndReply(benchmark::State& state) {
  Fixture f;
  const auto q = query("www.example.com.", true);
  std::vector<uint8_t> reply;
  for (auto _ : state) {
    f.now += std::chrono::hours(2);  // the previous entry expired
    f.engine->on_client_query(q, f.client, f.now, f.out);
    state.PauseTiming();
    const Send up = f.out.sends()[0];
    reply = reply_to(up.bytes, 4);
    state.ResumeTiming();
    f.engine->on_upstream_reply(reply, up.to, up.token, f.now, f.out);
  }
}
BENCHMARK(BM_MissAndReply);

}  // namespace

BENCHMARK_MAIN();
