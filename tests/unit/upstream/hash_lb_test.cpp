#include <doctest/doctest.h>

#include <vector>

#include "proxy/upstream/hash.hpp"
#include "upstream_test_util.hpp"

using namespace portico;
using namespace portico::upstream;
using namespace portico::upstream::test;
using conf::LbPolicy;

namespace {

constexpr size_t kKeys = 100000;

uint64_t key(size_t k) { return mix64(k + 0x1234); }

// The port each key maps to.
std::vector<uint16_t> assign(Harness& h) {
  std::vector<uint16_t> out(kKeys);
  for (size_t k = 0; k < kKeys; ++k) {
    auto i = h.lb->pick({kT0, key(k), nullptr});
    REQUIRE(i);
    out[k] = (*h.set)[*i].address.port();
  }
  return out;
}

std::vector<uint16_t> ports(size_t n) {
  std::vector<uint16_t> p;
  for (size_t k = 0; k < n; ++k) p.push_back(static_cast<uint16_t>(7000 + k));
  return p;
}

LbOptions opts(LbPolicy p) {
  LbOptions o;
  o.policy = p;
  return o;
}

struct Movement {
  double moved = 0;         // share of all keys that changed endpoint
  double others_moved = 0;  // share of keys not on the changed endpoint that moved
};

Movement compare(const std::vector<uint16_t>& before, const std::vector<uint16_t>& after,
                 uint16_t changed) {
  size_t moved = 0, others = 0, others_moved = 0;
  for (size_t k = 0; k < kKeys; ++k) {
    bool m = before[k] != after[k];
    moved += m;
    if (before[k] != changed && after[k] != changed) {
      ++others;
      others_moved += m;
    }
  }
  return {double(moved) / kKeys, others ? double(others_moved) / others : 0};
}

}  // namespace

TEST_CASE("ring hash and maglev spread keys evenly and by weight") {
  for (LbPolicy p : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(static_cast<int>(p));
    Harness h(make_set(equal(10)), opts(p));
    std::vector<size_t> c(10, 0);
    for (size_t k = 0; k < kKeys; ++k) ++c[*h.lb->pick({kT0, key(k), nullptr})];
    for (size_t n : c) {
      CHECK(n > kKeys / 10 * 0.80);
      CHECK(n < kKeys / 10 * 1.20);
    }
    Harness w(make_set({{1}, {3}}), opts(p));
    size_t heavy = 0;
    for (size_t k = 0; k < kKeys; ++k) heavy += *w.lb->pick({kT0, key(k), nullptr}) == 1;
    CHECK(double(heavy) / kKeys > 0.70);
    CHECK(double(heavy) / kKeys < 0.80);
  }
}

TEST_CASE("the same key always gets the same endpoint, on every worker") {
  for (LbPolicy p : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    auto set = make_set(equal(20));
    auto table = std::make_shared<HealthTable>(set->size());
    auto plan = LbPlan::build(set, opts(p));
    auto a = LoadBalancer::create(plan, table, 1);
    auto b = LoadBalancer::create(plan, table, 2);
    for (size_t k = 0; k < 1000; ++k) CHECK(a->pick({kT0, key(k), nullptr}) == b->pick({kT0, key(k), nullptr}));
  }
}

TEST_CASE("an endpoint leaving moves about 1/N of the keys, and only its own (ring hash)") {
  const size_t n = 10;
  auto all = ports(n);
  auto fewer = all;
  fewer.erase(fewer.begin() + 3);
  Harness before(make_set_ports(all), opts(LbPolicy::kRingHash));
  Harness after(make_set_ports(fewer), opts(LbPolicy::kRingHash));
  Movement m = compare(assign(before), assign(after), all[3]);
  CHECK(m.moved > 0.7 / n);
  CHECK(m.moved < 1.3 / n);
  CHECK(m.others_moved == 0);
}

TEST_CASE("an endpoint joining takes about 1/(N+1) of the keys from the others (ring hash)") {
  const size_t n = 10;
  auto all = ports(n + 1);
  auto fewer = all;
  fewer.pop_back();
  Harness before(make_set_ports(fewer), opts(LbPolicy::kRingHash));
  Harness after(make_set_ports(all), opts(LbPolicy::kRingHash));
  auto a = assign(before);
  auto b = assign(after);
  Movement m = compare(a, b, all.back());
  CHECK(m.moved > 0.7 / (n + 1));
  CHECK(m.moved < 1.3 / (n + 1));
  CHECK(m.others_moved == 0);  // every moved key went to the new endpoint
}

TEST_CASE("maglev: leaving and joining move about 1/N of the keys, almost only their own") {
  const size_t n = 10;
  auto all = ports(n);
  auto fewer = all;
  fewer.erase(fewer.begin() + 3);
  Harness full(make_set_ports(all), opts(LbPolicy::kMaglev));
  Harness less(make_set_ports(fewer), opts(LbPolicy::kMaglev));
  auto a = assign(full);
  auto b = assign(less);
  Movement leave = compare(a, b, all[3]);
  CHECK(leave.moved > 0.7 / n);
  CHECK(leave.moved < 1.3 / n);
  // Maglev trades perfect stability for perfect balance: a few others move.
  CHECK(leave.others_moved < 0.03);
  Movement join = compare(b, a, all[3]);
  CHECK(join.moved > 0.7 / n);
  CHECK(join.moved < 1.3 / n);
  CHECK(join.others_moved < 0.03);
}

TEST_CASE("an unhealthy endpoint's keys spread over the rest; no other key moves") {
  for (LbPolicy p : {LbPolicy::kRingHash, LbPolicy::kMaglev}) {
    CAPTURE(static_cast<int>(p));
    const size_t n = 10;
    Harness h(make_set_ports(ports(n)), opts(p));
    auto a = assign(h);
    h.table->set_active(3, false, kT0, "down");
    auto b = assign(h);
    Movement m = compare(a, b, static_cast<uint16_t>(7003));
    CHECK(m.others_moved == 0);
    CHECK(m.moved > 0.7 / n);
    CHECK(m.moved < 1.3 / n);
    // the orphaned keys do not all land on one endpoint
    std::vector<size_t> dest(65536, 0);
    for (size_t k = 0; k < kKeys; ++k)
      if (a[k] == 7003) ++dest[b[k]];
    size_t receivers = 0, biggest = 0;
    for (size_t d : dest) {
      receivers += d > 0;
      biggest = std::max(biggest, d);
    }
    CHECK(receivers >= 5);
    // recovery restores the original mapping
    h.table->set_active(3, true, kT0, "up");
    CHECK(assign(h) == a);
  }
}

TEST_CASE("maglev table sizes are primes large enough for the set") {
  CHECK(MaglevTable::is_prime(65537));
  CHECK_FALSE(MaglevTable::is_prime(65535));
  CHECK(MaglevTable::next_prime(100000) == 100003);
  auto set = make_set(equal(10000));
  std::vector<uint32_t> members(set->size());
  for (uint32_t i = 0; i < members.size(); ++i) members[i] = i;
  MaglevTable t(*set, members, 65537);
  CHECK(t.size() == 100003);
  HashRing r(*set, members, 160, 1u << 20);
  CHECK(r.points() <= (1u << 20) + 10000);
  CHECK(r.points() >= 10000);
}
