// Micro-benchmarks of proxy/upstream: ns per pick() for every load-balancing
// policy with 3, 100 and 10,000 healthy endpoints (one worker's balancer, view
// already built), plus the pick + request start/end bookkeeping round for the
// load-aware policies.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/upstream/cluster.hpp"
#include "proxy/upstream/hash.hpp"
#include "proxy/upstream/load_balancer.hpp"

namespace {

using namespace portico;
using namespace portico::upstream;
using conf::LbPolicy;

constexpr TimeNs kNow = 1000 * kNsPerSec;

struct Setup {
  std::shared_ptr<const EndpointSet> set;
  std::shared_ptr<HealthTable> table;
  std::unique_ptr<LoadBalancer> lb;
};

Setup make(LbPolicy p, size_t n) {
  std::vector<Endpoint> v;
  for (size_t k = 0; k < n; ++k) {
    std::string a = "10." + std::to_string((k >> 16) & 255) + "." + std::to_string((k >> 8) & 255) +
                    "." + std::to_string(k & 255) + ":8080";
    v.push_back({*conf::parse_address(a), static_cast<uint32_t>(1 + k % 3), 0});
  }
  std::string err;
  Setup s;
  s.set = EndpointSet::build(std::move(v), &err);
  s.table = std::make_shared<HealthTable>(n);
  LbOptions o;
  o.policy = p;
  s.lb = LoadBalancer::create(LbPlan::build(s.set, o), s.table, 42);
  // warm: latency samples for least_request, the view
  for (uint32_t i = 0; i < n; ++i) {
    s.lb->on_request_start(i);
    s.lb->on_request_end(i, (1 + i % 7) * kNsPerMs, true, kNow);
  }
  s.lb->pick({kNow, 1, nullptr});
  return s;
}

void bm_pick(benchmark::State& state, LbPolicy p) {
  Setup s = make(p, static_cast<size_t>(state.range(0)));
  uint64_t key = 0;
  for (auto _ : state) {
    key += 0x9e3779b97f4a7c15ULL;
    auto i = s.lb->pick({kNow, key, nullptr});
    benchmark::DoNotOptimize(i);
  }
}

void bm_pick_round(benchmark::State& state, LbPolicy p) {
  Setup s = make(p, static_cast<size_t>(state.range(0)));
  uint64_t key = 0;
  for (auto _ : state) {
    key += 0x9e3779b97f4a7c15ULL;
    auto i = s.lb->pick({kNow, key, nullptr});
    s.lb->on_request_start(*i);
    s.lb->on_request_end(*i, 2 * kNsPerMs, true, kNow);
    benchmark::DoNotOptimize(i);
  }
}

// The data path's whole round per request: WorkerCluster::acquire (version
// check, pick, circuit-breaker slot: shared atomics) and release (balancer
// bookkeeping, outlier detection, breaker release).
void bm_cluster_lease(benchmark::State& state, LbPolicy p) {
  const size_t n = static_cast<size_t>(state.range(0));
  conf::Cluster c;
  c.name.push_back('c');
  c.lb = p;
  c.max_connections = 1000;
  c.outlier = conf::Outlier{};
  for (size_t k = 0; k < n; ++k) {
    std::string a = "10." + std::to_string((k >> 16) & 255) + "." + std::to_string((k >> 8) & 255) +
                    "." + std::to_string(k & 255) + ":8080";
    c.endpoints.push_back({*conf::parse_address(a), static_cast<uint32_t>(1 + k % 3), 0});
  }
  std::string err;
  auto sc = SharedCluster::create(c, nullptr, &err);
  WorkerCluster wc(sc, 42);
  uint64_t key = 0;
  for (auto _ : state) {
    key += 0x9e3779b97f4a7c15ULL;
    Lease l;
    wc.acquire({kNow, key, nullptr}, false, &l);
    wc.release(l, Outcome::kSuccess, kNow);
    benchmark::DoNotOptimize(l);
  }
}

void bm_hash_client_ip(benchmark::State& state) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  uint32_t ip = 0x7f000001;
  for (auto _ : state) {
    a.sin_addr.s_addr = ++ip;
    benchmark::DoNotOptimize(hash_client_ip(reinterpret_cast<const sockaddr*>(&a)));
  }
}

const struct {
  LbPolicy policy;
  const char* name;
} kPolicies[] = {
    {LbPolicy::kRoundRobin, "round_robin"},
    {LbPolicy::kWeightedRoundRobin, "weighted_round_robin"},
    {LbPolicy::kLeastConnections, "least_connections"},
    {LbPolicy::kLeastRequest, "least_request"},
    {LbPolicy::kRandom, "random"},
    {LbPolicy::kRingHash, "ring_hash"},
    {LbPolicy::kMaglev, "maglev"},
};

int register_all() {
  for (const auto& p : kPolicies) {
    benchmark::RegisterBenchmark((std::string("pick/") + p.name).c_str(), bm_pick, p.policy)
        ->Arg(3)->Arg(100)->Arg(10000);
  }
  for (LbPolicy p : {LbPolicy::kLeastConnections, LbPolicy::kLeastRequest})
    benchmark::RegisterBenchmark(
        (std::string("pick_start_end/") + (p == LbPolicy::kLeastRequest ? "least_request" : "least_connections")).c_str(),
        bm_pick_round, p)
        ->Arg(3)->Arg(100)->Arg(10000);
  for (LbPolicy p : {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest, LbPolicy::kMaglev})
    benchmark::RegisterBenchmark(
        (std::string("cluster_lease/") + (p == LbPolicy::kRoundRobin ? "round_robin"
                                          : p == LbPolicy::kLeastRequest ? "least_request" : "maglev")).c_str(),
        bm_cluster_lease, p)
        ->Arg(3)->Arg(100)->Arg(10000);
  benchmark::RegisterBenchmark("hash_client_ip", bm_hash_client_ip);
  return 0;
}
const int kRegistered = register_all();

}  // namespace

BENCHMARK_MAIN();
