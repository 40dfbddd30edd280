// Responder throughput: queries handled per second by an Engine publishing 100 services.
// Legacy unicast queries are answered every time (no multicast rate limit), so each iteration
// is a full parse + lookup + answer encode.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mdns/engine.hpp"

using namespace portico::mdns;

namespace {

struct Host {
  SeededRandom rnd{42};
  Engine engine;
  Time now = Time{} + std::chrono::hours(1);
  std::vector<std::vector<uint8_t>> queries;

  static Options options() {
    Options o;
    o.hostname = "bench";
    o.interfaces.push_back(InterfaceConfig{1, "lo", {IpAddress::v4(127, 0, 0, 2), *IpAddress::parse("::1")}});
    for (int i = 0; i < 100; ++i) {
      ServiceConfig s;
      s.instance = "Service " + std::to_string(i);
      s.type = "_svc" + std::to_string(i % 10) + "._tcp";
      s.port = uint16_t(8000 + i);
      s.txt = {{"path", "/", true}, {"id", std::to_string(i), true}};
      o.services.push_back(s);
    }
    o.limits.rate_per_second = 1e12;
    o.limits.rate_burst = 1e12;
    return o;
  }

  explicit Host(uint16_t type) : engine(options(), rnd) {
    Actions a;
    engine.start(now, a);
    for (int i = 0; i < 100 && a.next_wakeup != kNever; ++i) {
      now = a.next_wakeup;
      a.clear();
      engine.on_timer(now, a);
    }
    for (int i = 0; i < 100; ++i) {
      Message q;
      q.id = uint16_t(i);
      Name n = type == rrtype::kPtr ? name_from_dotted("_svc" + std::to_string(i % 10) + "._tcp.local")
                                    : name_prepend("Service " + std::to_string(i),
                                                   name_from_dotted("_svc" + std::to_string(i % 10) + "._tcp.local"));
      q.questions.push_back({n, type, kClassIn, false});
      queries.push_back(encode(q));
    }
  }
};

void run(benchmark::State& state, uint16_t type) {
  Host h(type);
  if (!h.engine.established()) state.SkipWithError("responder did not finish probing");
  Source src{{IpAddress::v4(127, 0, 0, 9), 40000}, 1, 64, true, false};
  Actions a;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    a.clear();
    h.engine.on_packet(h.queries[i++ % h.queries.size()], src, h.now, a);
    if (!a.out.empty()) bytes += a.out[0].bytes.size();
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.counters["reply_bytes"] = benchmark::Counter(double(bytes) / double(state.iterations() ? state.iterations() : 1));
}

void BM_MdnsQuerySrv(benchmark::State& state) { run(state, rrtype::kSrv); }
void BM_MdnsQueryPtr(benchmark::State& state) { run(state, rrtype::kPtr); }

}  // namespace

BENCHMARK(BM_MdnsQuerySrv);
BENCHMARK(BM_MdnsQueryPtr);
BENCHMARK_MAIN();
