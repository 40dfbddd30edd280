#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "upstream_test_util.hpp"

using namespace portico;
using namespace portico::upstream;
using namespace portico::upstream::test;
using conf::LbPolicy;

namespace {

std::string letters(LoadBalancer& lb, size_t n, TimeNs now = kT0) {
  std::string s;
  for (size_t k = 0; k < n; ++k) {
    auto i = lb.pick({now, 0, nullptr});
    s += i ? static_cast<char>('a' + *i) : '-';
  }
  return s;
}

const LbPolicy kAll[] = {LbPolicy::kRoundRobin, LbPolicy::kWeightedRoundRobin,
                         LbPolicy::kLeastConnections, LbPolicy::kLeastRequest,
                         LbPolicy::kRandom, LbPolicy::kRingHash, LbPolicy::kMaglev};

}  // namespace

TEST_CASE("smooth weighted round robin gives nginx's sequence for weights 5,1,1") {
  Harness h({{5}, {1}, {1}}, LbPolicy::kWeightedRoundRobin);
  CHECK(letters(*h.lb, 7) == "aabacaa");
  CHECK(letters(*h.lb, 7) == "aabacaa");
  auto c = h.count(700);
  CHECK(c == std::vector<size_t>{500, 100, 100});
}

TEST_CASE("smooth weighted round robin: a failure lowers the effective weight, which recovers") {
  Harness h({{5}, {1}, {1}}, LbPolicy::kWeightedRoundRobin);
  CHECK(letters(*h.lb, 7) == "aabacaa");  // one full cycle: current weights back at 0
  h.lb->on_request_start(0);
  h.lb->on_request_end(0, kNsPerMs, false, kT0);
  // right after the failure 'a' (effective weight 0) is avoided, then it climbs
  // back one weight unit per pick
  CHECK(letters(*h.lb, 2) == "bc");
  std::string s = letters(*h.lb, 12);
  CHECK(std::count(s.begin(), s.end(), 'a') >= 8);
  letters(*h.lb, 700 - 14);  // finish the disturbed cycles
  auto c = h.count(700);
  CHECK(c == std::vector<size_t>{500, 100, 100});
}

TEST_CASE("round robin cycles through the endpoints exactly") {
  Harness h(equal(3), LbPolicy::kRoundRobin, 7);
  std::string s = letters(*h.lb, 9);
  CHECK(s.substr(0, 3) == s.substr(3, 3));
  CHECK(s.substr(0, 3) == s.substr(6, 3));
  CHECK(h.count(3000) == std::vector<size_t>{1000, 1000, 1000});
}

TEST_CASE("random spreads by weight within statistical bounds") {
  Harness eq(equal(4), LbPolicy::kRandom, 1);
  for (size_t c : eq.count(40000)) {
    CHECK(c > 9500);
    CHECK(c < 10500);
  }
  Harness w({{1}, {3}}, LbPolicy::kRandom, 2);
  auto c = w.count(40000);
  CHECK(c[1] > 29000);  // expect 30000, sd ~87
  CHECK(c[1] < 31000);
}

TEST_CASE("least connections balances outstanding requests by weight") {
  Harness h({{1}, {2}, {1}}, LbPolicy::kLeastConnections, 3);
  for (int k = 0; k < 40; ++k) {
    auto i = h.lb->pick({kT0, 0, nullptr});
    REQUIRE(i);
    h.lb->on_request_start(*i);
  }
  CHECK(h.lb->outstanding(0) == 10);
  CHECK(h.lb->outstanding(1) == 20);
  CHECK(h.lb->outstanding(2) == 10);
  // finishing requests on one endpoint makes it the next choice
  for (int k = 0; k < 5; ++k) h.lb->on_request_end(2, kNsPerMs, true, kT0);
  CHECK(h.lb->pick({kT0, 0, nullptr}) == 2u);
}

namespace {

// Discrete simulation: every ms, `rate` requests arrive; each runs for its
// endpoint's latency. Returns the share of requests per endpoint.
std::vector<double> simulate_least_request(const std::vector<TimeNs>& latency, int ms, int rate,
                                           uint64_t seed) {
  Harness h(equal(latency.size()), LbPolicy::kLeastRequest, seed);
  struct InFlight {
    TimeNs end;
    uint32_t endpoint;
    TimeNs start;
  };
  std::vector<InFlight> flying;
  std::vector<double> count(latency.size(), 0);
  double total = 0;
  for (int t = 0; t < ms; ++t) {
    TimeNs now = kT0 + t * kNsPerMs;
    for (size_t k = 0; k < flying.size();) {
      if (flying[k].end <= now) {
        h.lb->on_request_end(flying[k].endpoint, now - flying[k].start, true, now);
        flying[k] = flying.back();
        flying.pop_back();
      } else {
        ++k;
      }
    }
    for (int r = 0; r < rate; ++r) {
      auto i = h.lb->pick({now, 0, nullptr});
      REQUIRE(i);
      h.lb->on_request_start(*i);
      flying.push_back({now + latency[*i], *i, now});
      ++count[*i];
      ++total;
    }
  }
  for (auto& c : count) c /= total;
  return count;
}

}  // namespace

TEST_CASE("least request (P2C + EWMA) sends more work to the faster endpoint") {
  auto share = simulate_least_request({5 * kNsPerMs, 50 * kNsPerMs}, 5000, 2, 11);
  CHECK(share[0] > 0.75);
  auto share3 = simulate_least_request({5 * kNsPerMs, 20 * kNsPerMs, 80 * kNsPerMs}, 5000, 3, 12);
  CHECK(share3[0] > share3[1]);
  CHECK(share3[1] > share3[2]);
  // equal latencies: an even split
  auto even = simulate_least_request({10 * kNsPerMs, 10 * kNsPerMs}, 5000, 2, 13);
  CHECK(even[0] > 0.45);
  CHECK(even[0] < 0.55);
}

TEST_CASE("least request tracks an EWMA of latency; failures count as slow") {
  Harness h(equal(2), LbPolicy::kLeastRequest);
  h.lb->on_request_start(0);
  h.lb->on_request_end(0, 10 * kNsPerMs, true, kT0);
  CHECK(h.lb->ewma(0) == doctest::Approx(10.0 * kNsPerMs));
  h.lb->on_request_start(0);
  h.lb->on_request_end(0, 20 * kNsPerMs, true, kT0 + kNsPerMs);
  CHECK(h.lb->ewma(0) == doctest::Approx(13.0 * kNsPerMs));  // alpha 30%
  h.lb->on_request_end(1, kNsPerMs, false, kT0);
  CHECK(h.lb->ewma(1) >= 100.0 * kNsPerMs);
  CHECK(h.lb->outstanding(0) == 0);
  CHECK(h.lb->outstanding(1) == 0);  // an end without a start: never below zero
}

TEST_CASE("every policy skips unavailable endpoints and fails over to the next priority") {
  for (LbPolicy p : kAll) {
    CAPTURE(static_cast<int>(p));
    Harness h({{1, 0}, {1, 0}, {1, 1}}, p);
    auto c = h.count(300, kT0, 5);
    CHECK(c[0] + c[1] == 300);
    h.table->set_active(0, false, kT0, "down");
    c = h.count(300, kT0, 5);
    CHECK(c[1] == 300);
    h.table->eject(1, kT0, kT0 + 10 * kNsPerSec);
    c = h.count(300, kT0, 5);
    CHECK(c[2] == 300);  // priority 1 takes over
    // the ejection ends by time alone: back to priority 0
    c = h.count(300, kT0 + 10 * kNsPerSec, 5);
    CHECK(c[1] == 300);
    h.table->set_active(0, true, kT0 + 11 * kNsPerSec, "up");
    c = h.count(300, kT0 + 11 * kNsPerSec, 5);
    CHECK(c[0] > 0);
    CHECK(c[2] == 0);
  }
}

TEST_CASE("no endpoint available: none without panic, all endpoints with panic") {
  for (LbPolicy p : kAll) {
    CAPTURE(static_cast<int>(p));
    Harness h({{1, 0}, {1, 1}, {1, 1}}, p);
    for (uint32_t i = 0; i < 3; ++i) h.table->set_active(i, false, kT0, "down");
    CHECK_FALSE(h.lb->pick({kT0, 1, nullptr}));
    CHECK_FALSE(h.lb->panic());
    LbOptions o = Harness::options(p);
    o.panic = true;
    Harness hp(make_set({{1, 0}, {1, 1}, {1, 1}}), o);
    for (uint32_t i = 0; i < 3; ++i) hp.table->set_active(i, false, kT0, "down");
    auto c = hp.count(3000, kT0, 9);
    CHECK(hp.lb->panic());
    for (size_t n : c) CHECK(n > 0);
    CHECK(c[0] + c[1] + c[2] == 3000);
  }
}

TEST_CASE("an empty endpoint set picks nothing") {
  for (LbPolicy p : kAll) {
    LbOptions o = Harness::options(p);
    o.panic = true;
    Harness h(make_set({}), o);
    CHECK_FALSE(h.lb->pick({kT0, 123, nullptr}));
  }
}

TEST_CASE("the exclusion set steers picks away from tried endpoints") {
  for (LbPolicy p : kAll) {
    CAPTURE(static_cast<int>(p));
    Harness h(equal(3), p);
    Exclusion ex;
    ex.add(0);
    ex.add(2);
    for (uint64_t k = 0; k < 200; ++k) CHECK(h.lb->pick({kT0, k * 7919, &ex}) == 1u);
    ex.add(1);  // everything tried: still an answer
    CHECK(h.lb->pick({kT0, 5, &ex}));
  }
}

TEST_CASE("slow start ramps a recovered endpoint's share over the window") {
  LbOptions o = Harness::options(LbPolicy::kWeightedRoundRobin);
  o.slow_start_window = 10 * kNsPerSec;
  Harness h(make_set(equal(2)), o);
  h.table->set_active(0, false, kT0, "down");
  h.table->set_active(0, true, kT0 + kNsPerSec, "up");
  // just recovered: 10% of its weight
  auto c = h.count(1100, kT0 + kNsPerSec);
  CHECK(c[0] == 100);
  // half way
  c = h.count(1500, kT0 + 6 * kNsPerSec);
  CHECK(c[0] >= 498);  // the effective weight climbs for a pick or two
  CHECK(c[0] <= 502);
  // after the window: full weight
  c = h.count(1000, kT0 + 11 * kNsPerSec + 1);
  CHECK(c[0] >= 498);
  CHECK(c[0] <= 502);
  // round robin ignores weights, hence slow start
  LbOptions rr = Harness::options(LbPolicy::kRoundRobin);
  rr.slow_start_window = 10 * kNsPerSec;
  Harness r(make_set(equal(2)), rr);
  r.table->set_active(0, false, kT0, "down");
  r.table->set_active(0, true, kT0 + kNsPerSec, "up");
  CHECK(r.count(1000, kT0 + kNsPerSec)[0] == 500);
}

TEST_CASE("per-worker balancers with different seeds start round robin at different places") {
  auto set = make_set(equal(16));
  auto table = std::make_shared<HealthTable>(set->size());
  auto plan = LbPlan::build(set, Harness::options(LbPolicy::kRoundRobin));
  std::set<uint32_t> firsts;
  for (uint64_t seed = 1; seed <= 8; ++seed) firsts.insert(*LoadBalancer::create(plan, table, seed)->pick({kT0, 0, nullptr}));
  CHECK(firsts.size() > 2);
}

TEST_CASE("least connections always picks a minimum load per weight (random workload)") {
  std::vector<Spec> specs;
  for (uint32_t k = 0; k < 50; ++k) specs.push_back({1 + k % 4, 0});
  Harness h(specs, LbPolicy::kLeastConnections, 5);
  SeededRandom rng(99);
  std::vector<uint32_t> open;
  for (int step = 0; step < 20000; ++step) {
    if (step % 1000 == 500) h.table->set_active(rng.below(50), rng.below(2) == 0, kT0, "flip");
    if (!open.empty() && rng.below(3) == 0) {
      size_t k = rng.below(static_cast<uint32_t>(open.size()));
      h.lb->on_request_end(open[k], kNsPerMs, true, kT0);
      open[k] = open.back();
      open.pop_back();
      continue;
    }
    Exclusion ex;
    if (rng.below(4) == 0)
      for (int k = 0; k < 3; ++k) ex.add(rng.below(50));
    auto i = h.lb->pick({kT0, 0, &ex});
    REQUIRE(i);
    // brute force: no available, non-excluded endpoint has a lower load per weight
    for (uint32_t j = 0; j < 50; ++j) {
      if (!h.table->available(j, kT0) || ex.contains(j)) continue;
      CHECK_FALSE(uint64_t{h.lb->outstanding(j)} * specs[*i].weight <
                  uint64_t{h.lb->outstanding(*i)} * specs[j].weight);
    }
    CHECK_FALSE(ex.contains(*i));
    h.lb->on_request_start(*i);
    open.push_back(*i);
  }
}
