// SharedCluster / WorkerCluster: leases, circuit breakers, discovery updates
// that keep in-flight endpoints valid, outlier ejection through the lease path.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "proxy/upstream/cluster.hpp"
#include "upstream_test_util.hpp"

namespace portico::upstream {
namespace {

using test::addr;
using test::kT0;

conf::Cluster cluster_of(std::vector<uint16_t> ports) {
  conf::Cluster c;
  c.name.push_back('c');  // not = "c": a GCC 12 -Wrestrict false positive
  for (uint16_t p : ports) c.endpoints.push_back({addr(p), 1, 0});
  return c;
}

std::shared_ptr<SharedCluster> make(const conf::Cluster& c, const SharedCluster* prev = nullptr) {
  std::string err;
  auto sc = SharedCluster::create(c, prev, &err);
  REQUIRE_MESSAGE(sc, err);
  return sc;
}

TEST_CASE("leases pick round robin and release their breaker slots") {
  auto c = cluster_of({9000, 9001, 9002});
  c.max_connections = 1;
  auto sc = make(c);
  WorkerCluster wc(sc, 1);
  Lease a, b, d, e;
  REQUIRE(wc.acquire({kT0, 0, nullptr}, true, &a) == PickError::kNone);
  REQUIRE(wc.acquire({kT0, 0, nullptr}, true, &b) == PickError::kNone);
  REQUIRE(wc.acquire({kT0, 0, nullptr}, true, &d) == PickError::kNone);
  std::set<uint32_t> used{a.endpoint(), b.endpoint(), d.endpoint()};
  CHECK(used.size() == 3);
  CHECK(sc->snapshot()->breakers->pending(a.endpoint()) == 1);
  // every endpoint holds its one connection: overflow, at once
  CHECK(wc.acquire({kT0, 0, nullptr}, true, &e) == PickError::kOverflow);
  CHECK_FALSE(e);
  wc.connected(a);
  CHECK(sc->snapshot()->breakers->pending(a.endpoint()) == 0);
  const uint32_t freed = b.endpoint();
  wc.release(b, Outcome::kSuccess, kT0 + kNsPerMs);
  CHECK_FALSE(b);
  REQUIRE(wc.acquire({kT0, 0, nullptr}, false, &e) == PickError::kNone);
  CHECK(e.endpoint() == freed);
  CHECK(sc->snapshot()->breakers->connections(freed) == 1);
  CHECK(sc->snapshot()->breakers->pending(freed) == 0);
}

TEST_CASE("max_pending counts only connects in progress") {
  auto c = cluster_of({9000});
  c.max_pending = 1;
  auto sc = make(c);
  WorkerCluster wc(sc, 1);
  Lease a, b, d;
  REQUIRE(wc.acquire({kT0, 0, nullptr}, false, &a) == PickError::kNone);
  CHECK(wc.begin_connect(a));
  REQUIRE(wc.acquire({kT0, 0, nullptr}, false, &b) == PickError::kNone);
  CHECK_FALSE(wc.begin_connect(b));  // a's connect is still pending
  wc.connected(a);
  CHECK(wc.begin_connect(b));
  CHECK(wc.acquire({kT0, 0, nullptr}, true, &d) == PickError::kOverflow);
}

TEST_CASE("exclusions make each retry go to another endpoint") {
  auto sc = make(cluster_of({9000, 9001, 9002}));
  WorkerCluster wc(sc, 7);
  RetryPolicy policy;
  policy.attempts = 2;
  RetryState rs(&policy, nullptr, true);
  std::set<uint32_t> seen;
  for (int i = 0; i < 3; ++i) {
    Lease l;
    REQUIRE(wc.acquire({kT0, 0, &rs.tried()}, false, &l) == PickError::kNone);
    CHECK(seen.insert(l.endpoint()).second);
    rs.on_attempt(l.endpoint());
    wc.release(l, Outcome::kConnectFailure, kT0);
  }
}

TEST_CASE("a discovery update keeps in-flight leases valid and carries health over") {
  conf::Cluster c;
  c.name = "d";
  c.discovery.kind = conf::Discovery::Kind::kDns;
  c.discovery.name = "svc.test:80";
  auto sc = make(c);
  WorkerCluster wc(sc, 1);
  Lease none;
  CHECK(wc.acquire({kT0, 0, nullptr}, false, &none) == PickError::kNoEndpoint);
  std::string err;
  REQUIRE(sc->set_endpoints({{addr(9000), 1, 0}, {addr(9001), 1, 0}}, &err));
  const uint64_t v = sc->version();
  CHECK(sc->set_endpoints({{addr(9000), 1, 0}, {addr(9001), 1, 0}}, &err));
  CHECK(sc->version() == v);  // same set: no new snapshot
  sc->snapshot()->health->set_active(1, false, kT0, "test down");
  Lease held;
  REQUIRE(wc.acquire({kT0, 0, nullptr}, false, &held) == PickError::kNone);
  CHECK(held.address() == addr(9000));  // 9001 is down
  // 9000 leaves, 9002 joins: the held lease still names 9000
  REQUIRE(sc->set_endpoints({{addr(9001), 1, 0}, {addr(9002), 1, 0}}, &err));
  CHECK(held.address() == addr(9000));
  auto d = sc->describe(kT0);
  REQUIRE(d.size() == 2);
  CHECK(d[0].address == "127.0.0.1:9001");
  CHECK_FALSE(d[0].healthy);  // carried over
  CHECK(d[0].reason == "test down");
  CHECK(d[1].healthy);
  for (int i = 0; i < 4; ++i) {
    Lease l;
    REQUIRE(wc.acquire({kT0, 0, nullptr}, false, &l) == PickError::kNone);
    CHECK(l.address() == addr(9002));
  }
  wc.release(held, Outcome::kSuccess, kT0 + kNsPerMs);  // on the old epoch: no crash, freed
  CHECK_FALSE(held);
}

TEST_CASE("a reload hands health state to the next generation's cluster") {
  auto c = cluster_of({9000, 9001});
  auto old = make(c);
  old->snapshot()->health->set_active(0, false, kT0, "refused");
  auto next = make(c, old.get());
  CHECK_FALSE(next->describe(kT0)[0].healthy);
  CHECK(next->describe(kT0)[1].healthy);
}

TEST_CASE("outlier detection through leases ejects and the balancer skips") {
  auto c = cluster_of({9000, 9001, 9002});
  c.outlier = conf::Outlier{3, std::chrono::seconds(10), 50};
  auto sc = make(c);
  WorkerCluster wc(sc, 3);
  TimeNs now = kT0;
  int failures = 0;
  while (failures < 3) {
    Lease l;
    REQUIRE(wc.acquire({now, 0, nullptr}, false, &l) == PickError::kNone);
    bool bad = l.address() == addr(9001);
    failures += bad;
    wc.release(l, bad ? Outcome::kServerError : Outcome::kSuccess, now);
    now += kNsPerMs;
  }
  auto d = sc->describe(now);
  CHECK(d[1].ejected);
  CHECK(d[1].ejected_for > 9 * kNsPerSec);
  CHECK_FALSE(d[1].available);
  std::map<uint16_t, int> hits;
  for (int i = 0; i < 30; ++i) {
    Lease l;
    REQUIRE(wc.acquire({now, 0, nullptr}, false, &l) == PickError::kNone);
    hits[l.address().port()]++;
    wc.release(l, Outcome::kSuccess, now);
  }
  CHECK(hits[9001] == 0);
  CHECK(hits[9000] == 15);
  // the ejection ends by time
  now += 11 * kNsPerSec;
  hits.clear();
  for (int i = 0; i < 30; ++i) {
    Lease l;
    REQUIRE(wc.acquire({now, 0, nullptr}, false, &l) == PickError::kNone);
    hits[l.address().port()]++;
    wc.release(l, Outcome::kSuccess, now);
  }
  CHECK(hits[9001] == 10);
}

TEST_CASE("a lease dropped without release frees its slots") {
  auto c = cluster_of({9000});
  c.max_connections = 1;
  auto sc = make(c);
  WorkerCluster wc(sc, 1);
  {
    Lease l;
    REQUIRE(wc.acquire({kT0, 0, nullptr}, true, &l) == PickError::kNone);
  }
  CHECK(sc->snapshot()->breakers->connections(0) == 0);
  CHECK(sc->snapshot()->breakers->pending(0) == 0);
  CHECK(wc.balancer(kT0).outstanding(0) == 0);
}

TEST_CASE("the cluster's config sets its retry budget and balancer knobs") {
  auto c = cluster_of({9000, 9001});
  c.retry_budget = {50, 1};
  c.slow_start = std::chrono::seconds(20);
  c.slow_start_min_percent = 40;
  c.ring_hash = {7, 4096};
  c.maglev_table_size = 101;
  c.least_request = {60, std::chrono::seconds(3), std::chrono::milliseconds(7)};
  auto sc = make(c);
  RetryBudget& b = sc->retry_budget();
  CHECK(b.limit() == 1);  // nothing active: min_concurrent
  for (int k = 0; k < 10; ++k) b.request_started();
  CHECK(b.limit() == 5);  // 50% of 10
  const LbOptions& o = sc->lb_options();
  CHECK(o.slow_start_window == 20 * kNsPerSec);
  CHECK(o.slow_start_min_percent == 40);
  CHECK(o.ring_vnodes_per_weight == 7);
  CHECK(o.ring_max_points == 4096);
  CHECK(o.maglev_table_size == 101);
  CHECK(o.ewma_alpha_percent == 60);
  CHECK(o.ewma_stale == 3 * kNsPerSec);
  CHECK(o.failure_latency == 7 * kNsPerMs);
  // defaults: today's behaviour
  auto d = make(cluster_of({9000}));
  CHECK(d->retry_budget().limit() == 3);
  CHECK(d->lb_options().ring_vnodes_per_weight == 160);
  CHECK(d->lb_options().maglev_table_size == 65537);
  CHECK(d->lb_options().slow_start_min_percent == 10);
}

}  // namespace
}  // namespace portico::upstream
