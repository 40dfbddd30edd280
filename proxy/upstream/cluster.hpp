#pragma once
// The runtime of one configured cluster, sans-I/O, in two halves:
//  - SharedCluster: one per cluster per config generation, shared by every
//    worker (std::shared_ptr). Holds the current ClusterSnapshot (endpoint set,
//    health table, LB plan, circuit breakers) behind a mutex plus an atomic
//    version; discovery replaces the snapshot (carrying health state over), a
//    worker notices the version change on its next pick. Also the retry budget.
//  - WorkerCluster: one per cluster per worker (owned by l4::Generation), used
//    on that worker's thread only. Holds the worker's LoadBalancer and
//    OutlierDetector per snapshot ("epoch"); pick() takes no lock. A Lease is
//    one attempt on one endpoint: it pins its epoch, so a snapshot change never
//    invalidates the endpoint address of a request in flight.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/base/clock.hpp"
#include "proxy/upstream/circuit_breaker.hpp"
#include "proxy/upstream/endpoint_set.hpp"
#include "proxy/upstream/health_table.hpp"
#include "proxy/upstream/lb_options.hpp"
#include "proxy/upstream/load_balancer.hpp"
#include "proxy/upstream/outlier.hpp"
#include "proxy/upstream/retry.hpp"

namespace portico::upstream {

// Everything indexed by endpoint for one endpoint set. Immutable pointers.
struct ClusterSnapshot {
  std::shared_ptr<const EndpointSet> set;
  std::shared_ptr<HealthTable> health;
  std::shared_ptr<const LbPlan> plan;
  std::shared_ptr<CircuitBreakers> breakers;
  uint64_t version = 0;
};

// One endpoint as the admin endpoint shows it (see SharedCluster::describe).
struct EndpointStatus {
  std::string address;
  uint32_t weight = 1;
  uint32_t priority = 0;
  bool healthy = true;       // active health check
  bool ejected = false;      // outlier detection, at `now`
  TimeNs ejected_for = 0;    // remaining ejection
  bool available = true;     // gets traffic (healthy and not ejected)
  std::string reason;        // last health check result / ejection cause
  uint32_t connections = 0;  // circuit-breaker counters, all workers
  uint32_t pending = 0;
};

class SharedCluster {
 public:
  // The static endpoints of `c` (empty for discovery clusters until the first
  // update). `previous` (same name, older generation, may be null) hands over
  // health state and, for discovery clusters with the same source, endpoints.
  static std::shared_ptr<SharedCluster> create(const conf::Cluster& c,
                                               const SharedCluster* previous, std::string* err);

  const conf::Cluster& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  const LbOptions& lb_options() const { return lb_options_; }
  // Any thread, lock-free: bumps whenever the snapshot is replaced.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Any thread (mutex): not for the per-request path (WorkerCluster caches it).
  std::shared_ptr<const ClusterSnapshot> snapshot() const;
  // Replaces the endpoint set (discovery). Known endpoints keep their health;
  // returns false (and *err) if the set is invalid. No-op if nothing changed.
  bool set_endpoints(std::vector<Endpoint> endpoints, std::string* err);
  RetryBudget& retry_budget() { return budget_; }
  // Admin view: every endpoint's state at `now` (monotonic). Any thread.
  std::vector<EndpointStatus> describe(TimeNs now) const;

 private:
  explicit SharedCluster(const conf::Cluster& c);
  std::shared_ptr<const ClusterSnapshot> build(std::shared_ptr<const EndpointSet> set,
                                               const ClusterSnapshot* old) const;

  conf::Cluster config_;
  LbOptions lb_options_;
  mutable std::mutex mu_;
  std::shared_ptr<const ClusterSnapshot> snapshot_;  // guarded by mu_
  std::atomic<uint64_t> version_{0};
  RetryBudget budget_;  // from the cluster's retry_budget
};

// Why acquire() gave no endpoint.
enum class PickError : uint8_t { kNone, kNoEndpoint, kOverflow };

class WorkerCluster;

// One attempt on one endpoint. Move-only; release it through its cluster
// (WorkerCluster::release) exactly once, or the destructor releases it as a
// failure-free end. The endpoint's address stays valid while the lease lives.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& o) noexcept { *this = std::move(o); }
  Lease& operator=(Lease&& o) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  explicit operator bool() const { return epoch_ != nullptr; }
  uint32_t endpoint() const { return endpoint_; }
  const conf::Address& address() const;

 private:
  friend class WorkerCluster;
  struct Epoch* epoch_ = nullptr;
  WorkerCluster* owner_ = nullptr;
  uint32_t endpoint_ = 0;
  bool pending_ = false;  // counts in the endpoint's max_pending
  TimeNs start_ = 0;
};

struct Epoch {
  std::shared_ptr<const ClusterSnapshot> snap;
  std::unique_ptr<LoadBalancer> lb;
  std::unique_ptr<OutlierDetector> outlier;  // null unless `outlier:` is configured
  uint32_t refs = 0;                         // leases pinning it (worker-local)
};

class WorkerCluster {
 public:
  WorkerCluster(std::shared_ptr<SharedCluster> shared, uint64_t seed);
  ~WorkerCluster();
  WorkerCluster(const WorkerCluster&) = delete;
  WorkerCluster& operator=(const WorkerCluster&) = delete;

  SharedCluster& shared() const { return *shared_; }
  const conf::Cluster& config() const { return shared_->config(); }

  // Picks an endpoint (ctx.now, hash key, exclusions) and takes its circuit
  // breaker slots: one connection, plus one pending when `needs_connect`.
  // An endpoint over its limit is skipped for another (up to a few tries);
  // kOverflow when all tried were over. kNoEndpoint: nothing available.
  PickError acquire(const PickContext& ctx, bool needs_connect, Lease* out);
  // The lease needs a new connection after all (acquired with needs_connect
  // false, no idle one): counts it as pending; false = over max_pending.
  bool begin_connect(Lease& l);
  // The lease's connection is up (or reused): it no longer counts as pending.
  void connected(Lease& l);
  // Ends the attempt: balancer bookkeeping (latency since acquire), outlier
  // detection, breaker counters. Leaves `l` empty.
  void release(Lease& l, Outcome outcome, TimeNs now);
  // A plain health-aware pick without accounting (UDP sessions): a copy.
  std::optional<conf::Address> pick_address(TimeNs now, uint64_t hash);

  // The current epoch's balancer (tests, admin); refreshes first.
  const LoadBalancer& balancer(TimeNs now);

 private:
  friend class Lease;
  void refresh(TimeNs now);
  void unpin(Epoch* e);

  std::shared_ptr<SharedCluster> shared_;
  uint64_t seed_;
  uint64_t seen_version_ = UINT64_MAX;
  Epoch* current_ = nullptr;
  std::vector<std::unique_ptr<Epoch>> epochs_;  // current last; older ones while pinned
};

}  // namespace portico::upstream
