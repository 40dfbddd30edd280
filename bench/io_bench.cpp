// Micro-benchmarks of the per-worker buffer pool and timer heap.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "proxy/io/buffer_pool.hpp"
#include "proxy/io/timers.hpp"

using namespace portico::io;

static void BM_PoolAcquireRelease(benchmark::State& state) {
  BufferPool pool(1024, 16384);
  for (auto _ : state) {
    Buffer* b = pool.acquire();
    benchmark::DoNotOptimize(b);
    pool.release(b);
  }
}
BENCHMARK(BM_PoolAcquireRelease);

namespace {
struct Nop final : TimerHandler {
  void on_timer(Timer&) override {}
};
}  // namespace

// Re-arming an armed timer (what an idle deadline costs when it is pushed back).
static void BM_TimerRearm(benchmark::State& state) {
  Timers ts;
  Nop nop;
  std::vector<Timer> timers(static_cast<size_t>(state.range(0)));
  std::mt19937_64 rng(1);
  for (auto& t : timers) {
    t.bind(&nop, 0);
    ts.arm(t, static_cast<int64_t>(rng() % 1000000));
  }
  size_t i = 0;
  for (auto _ : state) {
    ts.arm(timers[i], static_cast<int64_t>(rng() % 1000000));
    if (++i == timers.size()) i = 0;
  }
}
BENCHMARK(BM_TimerRearm)->Arg(100)->Arg(10000)->Arg(100000);

// Arm then fire: the connect-timeout pattern.
static void BM_TimerArmFire(benchmark::State& state) {
  Timers ts;
  Nop nop;
  std::vector<Timer> timers(static_cast<size_t>(state.range(0)));
  for (auto& t : timers) t.bind(&nop, 0);
  int64_t now = 0;
  for (auto _ : state) {
    for (auto& t : timers) ts.arm(t, now + 1);
    now += 2;
    ts.run(now);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_TimerArmFire)->Arg(1000);

BENCHMARK_MAIN();
