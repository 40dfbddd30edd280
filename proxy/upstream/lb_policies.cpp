// The load-balancing policies behind LoadBalancer::create(). Each works on the
// base class's view (candidates_, weights_, usable_) and this worker's counters.
#include <algorithm>
#include <iterator>
#include <limits>

#include "proxy/upstream/hash.hpp"
#include "proxy/upstream/load_balancer.hpp"

namespace portico::upstream {
namespace {

// round_robin: candidates in turn, ignoring weights.
class RoundRobin final : public LoadBalancer {
 public:
  using LoadBalancer::LoadBalancer;

 private:
  uint32_t choose(const PickContext& ctx) override {
    const size_t n = candidates_.size();
    for (size_t k = 0; k < n; ++k) {
      uint32_t i = candidates_[advance(n)];
      if (!excluded(ctx, i)) return i;
    }
    return candidates_[advance(n)];
  }
  size_t advance(size_t n) {
    size_t c = cursor_;
    cursor_ = c + 1 >= n ? 0 : c + 1;
    return c;
  }
  void on_view_changed() override {
    if (candidates_.empty()) return;
    if (start_) cursor_ = rng_.below(static_cast<uint32_t>(candidates_.size()));
    if (cursor_ >= candidates_.size()) cursor_ = 0;
    start_ = false;
  }
  size_t cursor_ = 0;
  bool start_ = true;  // first view: start at a random place (workers differ)
};

// weighted_round_robin: nginx's smooth weighted round robin. Every pick adds
// each candidate's effective weight to its current weight, picks the largest
// current weight and subtracts the total from it. A failure drops the
// endpoint's effective weight by its weight; it climbs back one weight unit
// per pick. O(candidates) per pick.
class SmoothWeighted final : public LoadBalancer {
 public:
  SmoothWeighted(std::shared_ptr<const LbPlan> plan, std::shared_ptr<const HealthTable> health,
                 uint64_t seed)
      : LoadBalancer(std::move(plan), std::move(health), seed) {
    const size_t n = plan_->endpoints().size();
    current_.assign(n, 0);
    effective_.assign(n, -1);
    weight_.assign(n, 0);
  }

 private:
  uint32_t choose(const PickContext& ctx) override {
    if (auto i = scan(ctx.exclude)) return *i;
    return *scan(nullptr);
  }
  std::optional<uint32_t> scan(const Exclusion* exclude) {
    int64_t total = 0;
    uint32_t best = UINT32_MAX;
    for (uint32_t i : candidates_) {
      if (exclude != nullptr && exclude->contains(i)) continue;
      current_[i] += effective_[i];
      total += effective_[i];
      if (effective_[i] < weight_[i])
        effective_[i] = std::min<int64_t>(weight_[i], effective_[i] + kWeightScale);
      if (best == UINT32_MAX || current_[i] > current_[best]) best = i;
    }
    if (best == UINT32_MAX) return std::nullopt;
    current_[best] -= total;
    return best;
  }
  void on_view_changed() override {
    for (size_t i = 0; i < usable_.size(); ++i)
      if (!usable_[i]) {
        current_[i] = 0;
        effective_[i] = -1;
      }
    for (size_t k = 0; k < candidates_.size(); ++k) {
      uint32_t i = candidates_[k];
      weight_[i] = weights_[k];
      effective_[i] = effective_[i] < 0 ? weights_[k] : std::min<int64_t>(effective_[i], weights_[k]);
    }
  }
  void on_failure(uint32_t i) override {
    if (effective_[i] >= 0) effective_[i] = std::max<int64_t>(0, effective_[i] - weight_[i]);
  }
  std::vector<int64_t> current_;
  std::vector<int64_t> effective_;  // -1: not a candidate
  std::vector<int64_t> weight_;     // the view's weight per endpoint
};

// least_connections: the candidate with the fewest outstanding requests per
// unit of weight (this worker's count); among equals the least recently
// picked, so ties rotate. An indexed min-heap over the candidates keeps pick
// and the start/end bookkeeping O(log n).
class LeastConnections final : public LoadBalancer {
 public:
  LeastConnections(std::shared_ptr<const LbPlan> plan, std::shared_ptr<const HealthTable> health,
                   uint64_t seed)
      : LoadBalancer(std::move(plan), std::move(health), seed) {
    const size_t n = plan_->endpoints().size();
    pos_.assign(n, kNone);
    weight_.assign(n, 1);
    seq_.assign(n, 0);
    heap_.reserve(n);
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  uint32_t choose(const PickContext& ctx) override {
    uint32_t p = 0;
    if (ctx.exclude != nullptr && !ctx.exclude->empty()) p = best_allowed(*ctx.exclude);
    const uint32_t i = heap_[p];
    seq_[i] = ++clock_;  // to the back of its equals
    sift_down(p);
    return i;
  }
  // Best-first search from the root for the best non-excluded entry: each
  // excluded entry visited adds at most its two children, so the frontier
  // stays below 2 x Exclusion::kMax + 1.
  uint32_t best_allowed(const Exclusion& ex) const {
    uint32_t frontier[2 * Exclusion::kMax + 2];
    size_t n = 0;
    frontier[n++] = 0;
    while (n > 0) {
      size_t b = 0;
      for (size_t k = 1; k < n; ++k)
        if (less(heap_[frontier[k]], heap_[frontier[b]])) b = k;
      const uint32_t p = frontier[b];
      frontier[b] = frontier[--n];
      if (!ex.contains(heap_[p])) return p;
      for (uint32_t c = 2 * p + 1; c <= 2 * p + 2 && c < heap_.size(); ++c)
        if (n < std::size(frontier)) frontier[n++] = c;
    }
    return 0;  // everything excluded
  }
  bool less(uint32_t a, uint32_t b) const {
    const uint64_t la = uint64_t{outstanding_[a]} * weight_[b];
    const uint64_t lb = uint64_t{outstanding_[b]} * weight_[a];
    return la != lb ? la < lb : seq_[a] < seq_[b];
  }
  void place(uint32_t p, uint32_t i) {
    heap_[p] = i;
    pos_[i] = p;
  }
  void sift_up(uint32_t p) {
    const uint32_t i = heap_[p];
    while (p > 0) {
      uint32_t parent = (p - 1) / 2;
      if (!less(i, heap_[parent])) break;
      place(p, heap_[parent]);
      p = parent;
    }
    place(p, i);
  }
  void sift_down(uint32_t p) {
    const uint32_t i = heap_[p];
    const uint32_t n = static_cast<uint32_t>(heap_.size());
    for (;;) {
      uint32_t c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && less(heap_[c + 1], heap_[c])) ++c;
      if (!less(heap_[c], i)) break;
      place(p, heap_[c]);
      p = c;
    }
    place(p, i);
  }
  void on_load_changed(uint32_t i) override {
    const uint32_t p = pos_[i];
    if (p == kNone) return;
    sift_up(p);
    sift_down(pos_[i]);
  }
  void on_view_changed() override {
    for (uint32_t i : heap_) pos_[i] = kNone;
    heap_.assign(candidates_.begin(), candidates_.end());
    for (uint32_t k = 0; k < heap_.size(); ++k) {
      pos_[heap_[k]] = k;
      weight_[heap_[k]] = weights_[k];
    }
    for (uint32_t p = static_cast<uint32_t>(heap_.size() / 2); p-- > 0;) sift_down(p);
  }
  std::vector<uint32_t> heap_;    // candidate endpoint indices, min at [0]
  std::vector<uint32_t> pos_;     // per endpoint: its heap position or kNone
  std::vector<uint32_t> weight_;  // per endpoint: the view's weight
  std::vector<uint64_t> seq_;     // per endpoint: when last picked
  uint64_t clock_ = 0;
};

// least_request: power of two choices. Two distinct random candidates; the one
// with the lower (EWMA latency + 1us) x (outstanding + 1) / weight wins, so a
// faster endpoint takes more of the load. An endpoint without a fresh latency
// sample scores as the fastest: it gets probed.
class LeastRequest final : public LoadBalancer {
 public:
  using LoadBalancer::LoadBalancer;

 private:
  uint32_t choose(const PickContext& ctx) override {
    const uint32_t n = static_cast<uint32_t>(candidates_.size());
    if (n == 1) return candidates_[0];
    for (int attempt = 0; attempt < 4; ++attempt) {
      uint32_t a = rng_.below(n);
      uint32_t b = rng_.below(n - 1);
      if (b >= a) ++b;
      bool ea = excluded(ctx, candidates_[a]);
      bool eb = excluded(ctx, candidates_[b]);
      if (ea && eb) continue;
      if (ea) return candidates_[b];
      if (eb) return candidates_[a];
      return score(a, ctx.now) <= score(b, ctx.now) ? candidates_[a] : candidates_[b];
    }
    for (uint32_t i : candidates_)
      if (!excluded(ctx, i)) return i;
    return candidates_[rng_.below(n)];
  }
  double score(uint32_t k, TimeNs now) const {
    uint32_t i = candidates_[k];
    const TimeNs stale = plan_->options().ewma_stale;
    double latency = (ewma_[i] > 0 && now - ewma_at_[i] <= stale) ? ewma_[i] : 0.0;
    return (latency + 1000.0) * (outstanding_[i] + 1.0) / weights_[k];
  }
};

// random: weighted random choice (uniform when weights are equal).
class WeightedRandom final : public LoadBalancer {
 public:
  using LoadBalancer::LoadBalancer;

 private:
  uint32_t choose(const PickContext& ctx) override {
    const uint32_t n = static_cast<uint32_t>(candidates_.size());
    for (int attempt = 0; attempt < 8; ++attempt) {
      uint32_t i = candidates_[draw(n)];
      if (!excluded(ctx, i)) return i;
    }
    for (uint32_t i : candidates_)
      if (!excluded(ctx, i)) return i;
    return candidates_[draw(n)];
  }
  size_t draw(uint32_t n) {
    if (equal_weights_) return rng_.below(n);
    uint64_t r = rng_.below64(total_weight_);
    return static_cast<size_t>(std::upper_bound(prefix_.begin(), prefix_.end(), r) - prefix_.begin());
  }
  void on_view_changed() override {
    prefix_.clear();
    if (equal_weights_) return;
    uint64_t sum = 0;
    for (uint32_t w : weights_) prefix_.push_back(sum += w);
  }
  std::vector<uint64_t> prefix_;  // cumulative weights, parallel to candidates_
};

// ring_hash: the first point at or after the key on the level's ring, walking
// clockwise past unavailable or excluded endpoints.
class RingHashLb final : public LoadBalancer {
 public:
  using LoadBalancer::LoadBalancer;

 private:
  uint32_t choose(const PickContext& ctx) override {
    const HashRing* ring = plan_->ring(level_);
    if (ring == nullptr || ring->empty())
      return candidates_[ctx.hash % candidates_.size()];
    size_t pos = ring->position(ctx.hash);
    uint32_t fallback = UINT32_MAX;
    for (size_t step = 0; step < ring->points(); ++step, pos = ring->next(pos)) {
      uint32_t i = ring->endpoint_at(pos);
      if (!usable_[i]) continue;
      if (!excluded(ctx, i)) return i;
      if (fallback == UINT32_MAX) fallback = i;
    }
    return fallback != UINT32_MAX ? fallback : candidates_[ctx.hash % candidates_.size()];
  }
};

// maglev: the key's slot in the level's table; if that endpoint is unavailable
// or excluded, up to kRehash rehashed slots, then the candidates in order from
// a key-derived start. Keys of available endpoints never move.
class MaglevLb final : public LoadBalancer {
 public:
  using LoadBalancer::LoadBalancer;

 private:
  // Not configuration: part of the algorithm (rehashes before a scan).
  static constexpr int kRehash = 8;
  uint32_t choose(const PickContext& ctx) override {
    const MaglevTable* t = plan_->maglev(level_);
    if (t != nullptr && !t->empty()) {
      uint64_t key = ctx.hash;
      for (int attempt = 0; attempt <= kRehash; ++attempt) {
        uint32_t i = t->lookup(key);
        if (usable_[i] && !excluded(ctx, i)) return i;
        key = mix64(ctx.hash + attempt + 1);
      }
    }
    const size_t n = candidates_.size();
    const size_t start = mix64(ctx.hash) % n;
    for (size_t k = 0, idx = start; k < n; ++k, idx = idx + 1 == n ? 0 : idx + 1)
      if (!excluded(ctx, candidates_[idx])) return candidates_[idx];
    return candidates_[start];
  }
};

}  // namespace

std::unique_ptr<LoadBalancer> LoadBalancer::create(std::shared_ptr<const LbPlan> plan,
                                                   std::shared_ptr<const HealthTable> health,
                                                   uint64_t seed) {
  if (!plan || !health) return nullptr;
  switch (plan->options().policy) {
    case conf::LbPolicy::kRoundRobin:
      return std::make_unique<RoundRobin>(std::move(plan), std::move(health), seed);
    case conf::LbPolicy::kWeightedRoundRobin:
      return std::make_unique<SmoothWeighted>(std::move(plan), std::move(health), seed);
    case conf::LbPolicy::kLeastConnections:
      return std::make_unique<LeastConnections>(std::move(plan), std::move(health), seed);
    case conf::LbPolicy::kLeastRequest:
      return std::make_unique<LeastRequest>(std::move(plan), std::move(health), seed);
    case conf::LbPolicy::kRandom:
      return std::make_unique<WeightedRandom>(std::move(plan), std::move(health), seed);
    case conf::LbPolicy::kRingHash:
      return std::make_unique<RingHashLb>(std::move(plan), std::move(health), seed);
    case conf::LbPolicy::kMaglev:
      return std::make_unique<MaglevLb>(std::move(plan), std::move(health), seed);
  }
  return nullptr;
}

}  // namespace portico::upstream
