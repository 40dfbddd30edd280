#pragma once
// Helpers for the upstream unit tests: loopback endpoint sets, a balancer with
// its health table, pick counting.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/types.hpp"
#include "proxy/upstream/endpoint_set.hpp"
#include "proxy/upstream/health_table.hpp"
#include "proxy/upstream/load_balancer.hpp"

namespace portico::upstream::test {

constexpr TimeNs kT0 = 1000 * kNsPerSec;  // the fake clock's start

inline conf::Address addr(uint16_t port) {
  return *conf::parse_address("127.0.0.1:" + std::to_string(port));
}

struct Spec {
  uint32_t weight = 1;
  uint32_t priority = 0;
};

// Endpoint k listens on port 9000 + k.
inline std::shared_ptr<const EndpointSet> make_set(const std::vector<Spec>& specs) {
  std::vector<Endpoint> v;
  for (size_t k = 0; k < specs.size(); ++k)
    v.push_back({addr(static_cast<uint16_t>(9000 + k)), specs[k].weight, specs[k].priority});
  std::string err;
  return EndpointSet::build(std::move(v), &err);
}

inline std::shared_ptr<const EndpointSet> make_set_ports(const std::vector<uint16_t>& ports) {
  std::vector<Endpoint> v;
  for (uint16_t p : ports) v.push_back({addr(p), 1, 0});
  std::string err;
  return EndpointSet::build(std::move(v), &err);
}

inline std::vector<Spec> equal(size_t n) { return std::vector<Spec>(n); }

struct Harness {
  std::shared_ptr<const EndpointSet> set;
  std::shared_ptr<HealthTable> table;
  std::shared_ptr<const LbPlan> plan;
  std::unique_ptr<LoadBalancer> lb;

  Harness(std::shared_ptr<const EndpointSet> s, LbOptions o, uint64_t seed = 42)
      : set(std::move(s)), table(std::make_shared<HealthTable>(set->size())) {
    plan = LbPlan::build(set, o);
    lb = LoadBalancer::create(plan, table, seed);
  }
  Harness(const std::vector<Spec>& specs, conf::LbPolicy p, uint64_t seed = 42)
      : Harness(make_set(specs), options(p), seed) {}
  static LbOptions options(conf::LbPolicy p) {
    LbOptions o;
    o.policy = p;
    return o;
  }
  // Picks n times at `now` (no bookkeeping); counts per endpoint index.
  std::vector<size_t> count(size_t n, TimeNs now = kT0, uint64_t hash_seed = 0) {
    std::vector<size_t> c(set->size(), 0);
    for (size_t k = 0; k < n; ++k) {
      PickContext ctx;
      ctx.now = now;
      ctx.hash = hash_seed ? hash_seed * 0x9e3779b97f4a7c15ULL + k * 0xbf58476d1ce4e5b9ULL : 0;
      auto i = lb->pick(ctx);
      if (i) ++c[*i];
    }
    return c;
  }
};

}  // namespace portico::upstream::test
