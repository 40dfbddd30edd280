#pragma once
// Load balancing. An LbPlan is built once per (EndpointSet, LbOptions) on any
// thread and shared read-only by all workers (it holds the consistent-hash
// tables). Each worker creates its own LoadBalancer from the plan and the
// cluster's HealthTable: the balancer keeps per-worker state (round-robin
// cursor, smooth-WRR weights, outstanding requests, latency EWMA) and is used
// on that worker's thread only, so pick() takes no lock.
//
// pick() skips endpoints that are unavailable in the HealthTable (active check
// down or ejected), serves the highest-priority level that has an available
// endpoint, and when none has: panic ? any endpoint : none (answer 503).
// The balancer caches that choice (the "view") and rebuilds it in O(n) only when
// the table's version changes, an ejection ends or a slow-start step is due.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "proxy/base/clock.hpp"
#include "proxy/upstream/endpoint_set.hpp"
#include "proxy/upstream/hash_tables.hpp"
#include "proxy/upstream/health_table.hpp"
#include "proxy/upstream/lb_options.hpp"
#include "proxy/upstream/random.hpp"

namespace portico::upstream {

// Endpoints a pick should avoid (those a request already tried). Bounded: adds
// beyond kMax are dropped (not configuration: a request makes at most
// 1 + RetryPolicy::kMaxAttempts = 11 tries, so 16 always holds them). A
// preference, not a ban: when every candidate is excluded, pick() returns an
// excluded one rather than none.
class Exclusion {
 public:
  static constexpr size_t kMax = 16;
  void add(uint32_t endpoint) {
    if (n_ < kMax && !contains(endpoint)) items_[n_++] = endpoint;
  }
  bool contains(uint32_t endpoint) const {
    for (size_t i = 0; i < n_; ++i)
      if (items_[i] == endpoint) return true;
    return false;
  }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  void clear() { n_ = 0; }

 private:
  uint32_t items_[kMax] = {};
  size_t n_ = 0;
};

struct PickContext {
  TimeNs now = 0;                      // the loop's cached monotonic time
  uint64_t hash = 0;                   // ring_hash / maglev key (see hash.hpp)
  const Exclusion* exclude = nullptr;  // endpoints to avoid (retries)
};

class LbPlan {
 public:
  static std::shared_ptr<const LbPlan> build(std::shared_ptr<const EndpointSet> set,
                                             const LbOptions& options);
  const EndpointSet& endpoints() const { return *set_; }
  const std::shared_ptr<const EndpointSet>& endpoints_ptr() const { return set_; }
  const LbOptions& options() const { return options_; }
  // Hash tables of priority level `level` (index into set.levels()), or of all
  // endpoints for level == kAllLevels. Null unless the policy needs them.
  static constexpr size_t kAllLevels = SIZE_MAX;
  const HashRing* ring(size_t level) const;
  const MaglevTable* maglev(size_t level) const;

 private:
  LbPlan() = default;
  std::shared_ptr<const EndpointSet> set_;
  LbOptions options_;
  std::vector<std::unique_ptr<HashRing>> rings_;      // per level, then "all" if > 1 level
  std::vector<std::unique_ptr<MaglevTable>> maglevs_;
};

class LoadBalancer {
 public:
  // `seed` seeds the balancer's own RNG (and round-robin start): give each
  // worker a different one. `health` must have plan->endpoints().size() rows.
  static std::unique_ptr<LoadBalancer> create(std::shared_ptr<const LbPlan> plan,
                                              std::shared_ptr<const HealthTable> health,
                                              uint64_t seed);
  virtual ~LoadBalancer() = default;

  // An endpoint index into plan->endpoints(), or nullopt (no endpoint available
  // and no panic, or an empty set). Worker thread only; no allocation once the
  // view is built.
  std::optional<uint32_t> pick(const PickContext& ctx) {
    refresh(ctx.now);
    if (candidates_.empty()) return std::nullopt;
    return choose(ctx);
  }
  // Bookkeeping of a request sent to endpoint i (outstanding count; latency and
  // success feed least_request's EWMA and smooth WRR's effective weight). Call
  // end exactly once per start, on the balancer the endpoint was picked from.
  void on_request_start(uint32_t i) {
    if (i >= outstanding_.size()) return;
    ++outstanding_[i];
    on_load_changed(i);
  }
  void on_request_end(uint32_t i, TimeNs latency, bool success, TimeNs now);
  // A request that ended without a result worth learning from (client gone,
  // cancelled): only the outstanding count changes.
  void on_request_abandoned(uint32_t i) {
    if (i >= outstanding_.size() || outstanding_[i] == 0) return;
    --outstanding_[i];
    on_load_changed(i);
  }

  // The last refreshed view: true if it spreads over unavailable endpoints.
  bool panic() const { return panic_; }
  uint32_t outstanding(uint32_t i) const { return i < outstanding_.size() ? outstanding_[i] : 0; }
  // EWMA latency of endpoint i in ns (0 = no sample yet).
  double ewma(uint32_t i) const { return i < ewma_.size() ? ewma_[i] : 0; }
  const LbPlan& plan() const { return *plan_; }

 protected:
  // Policies are built through create(); the constructor is public for them.
 public:
  LoadBalancer(std::shared_ptr<const LbPlan> plan, std::shared_ptr<const HealthTable> health,
               uint64_t seed);

 protected:
  virtual uint32_t choose(const PickContext& ctx) = 0;
  // The view changed (candidates, weights): rebuild derived per-policy state.
  virtual void on_view_changed() {}
  virtual void on_failure(uint32_t) {}
  // outstanding_[i] changed.
  virtual void on_load_changed(uint32_t) {}

  static bool excluded(const PickContext& ctx, uint32_t i) {
    return ctx.exclude != nullptr && ctx.exclude->contains(i);
  }
  // Weight unit: candidate weights are endpoint weight x kWeightScale x slow
  // start percent / 100, so a ramp has fine steps even for weight 1.
  static constexpr uint32_t kWeightScale = 100;

  std::shared_ptr<const LbPlan> plan_;
  std::shared_ptr<const HealthTable> health_;
  SeededRandom rng_;
  // ---- the view ----
  std::vector<uint32_t> candidates_;  // endpoint indices the policy spreads over
  std::vector<uint32_t> weights_;     // parallel to candidates_ (scaled)
  std::vector<uint8_t> usable_;       // per endpoint: in candidates_
  uint64_t total_weight_ = 0;
  bool equal_weights_ = true;
  bool panic_ = false;
  size_t level_ = 0;  // level index of the candidates, or LbPlan::kAllLevels
  // ---- per endpoint, this worker's traffic ----
  std::vector<uint32_t> outstanding_;
  std::vector<double> ewma_;
  std::vector<TimeNs> ewma_at_;

 private:
  void refresh(TimeNs now) {
    if (health_->version() != seen_version_ || now >= valid_until_) rebuild(now);
  }
  void rebuild(TimeNs now);
  uint64_t seen_version_ = 0;
  TimeNs valid_until_ = 0;
};

}  // namespace portico::upstream
