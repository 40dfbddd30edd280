#include "proxy/upstream/load_balancer.hpp"

#include <algorithm>
#include <limits>

namespace portico::upstream {

std::shared_ptr<const LbPlan> LbPlan::build(std::shared_ptr<const EndpointSet> set,
                                            const LbOptions& options) {
  std::shared_ptr<LbPlan> p(new LbPlan());
  p->set_ = std::move(set);
  p->options_ = options;
  p->options_.slow_start_min_percent = std::clamp<uint32_t>(options.slow_start_min_percent, 1, 100);
  p->options_.slow_start_window = std::clamp<TimeNs>(options.slow_start_window, 0, HealthTable::kMaxSpan);
  p->options_.ewma_alpha_percent = std::clamp<uint32_t>(options.ewma_alpha_percent, 1, 100);
  p->options_.ring_vnodes_per_weight = std::clamp<uint32_t>(options.ring_vnodes_per_weight, 1, 10000);
  p->options_.ring_max_points = std::clamp<uint32_t>(options.ring_max_points, 1024, 1u << 24);
  p->options_.maglev_table_size = std::clamp<uint32_t>(options.maglev_table_size, 7, 1u << 24);
  const auto& levels = p->set_->levels();
  std::vector<uint32_t> all(p->set_->size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  const auto& o = p->options_;
  if (o.policy == conf::LbPolicy::kRingHash) {
    for (const auto& l : levels)
      p->rings_.push_back(std::make_unique<HashRing>(*p->set_, l.members, o.ring_vnodes_per_weight,
                                                     o.ring_max_points));
    if (levels.size() > 1)
      p->rings_.push_back(
          std::make_unique<HashRing>(*p->set_, all, o.ring_vnodes_per_weight, o.ring_max_points));
  } else if (o.policy == conf::LbPolicy::kMaglev) {
    for (const auto& l : levels)
      p->maglevs_.push_back(std::make_unique<MaglevTable>(*p->set_, l.members, o.maglev_table_size));
    if (levels.size() > 1)
      p->maglevs_.push_back(std::make_unique<MaglevTable>(*p->set_, all, o.maglev_table_size));
  }
  return p;
}

const HashRing* LbPlan::ring(size_t level) const {
  if (rings_.empty()) return nullptr;
  if (level == kAllLevels) return rings_.back().get();
  return level < rings_.size() ? rings_[level].get() : nullptr;
}

const MaglevTable* LbPlan::maglev(size_t level) const {
  if (maglevs_.empty()) return nullptr;
  if (level == kAllLevels) return maglevs_.back().get();
  return level < maglevs_.size() ? maglevs_[level].get() : nullptr;
}

LoadBalancer::LoadBalancer(std::shared_ptr<const LbPlan> plan,
                           std::shared_ptr<const HealthTable> health, uint64_t seed)
    : plan_(std::move(plan)), health_(std::move(health)), rng_(seed) {
  const size_t n = plan_->endpoints().size();
  candidates_.reserve(n);
  weights_.reserve(n);
  usable_.assign(n, 0);
  outstanding_.assign(n, 0);
  ewma_.assign(n, 0);
  ewma_at_.assign(n, 0);
}

void LoadBalancer::rebuild(TimeNs now) {
  seen_version_ = health_->version();
  valid_until_ = std::numeric_limits<TimeNs>::max();
  const EndpointSet& set = plan_->endpoints();
  const LbOptions& o = plan_->options();
  const bool weighted = o.policy == conf::LbPolicy::kWeightedRoundRobin ||
                        o.policy == conf::LbPolicy::kLeastConnections ||
                        o.policy == conf::LbPolicy::kLeastRequest ||
                        o.policy == conf::LbPolicy::kRandom;
  const TimeNs window = weighted ? o.slow_start_window : 0;
  const size_t rows = std::min(set.size(), health_->size());
  candidates_.clear();
  weights_.clear();
  std::fill(usable_.begin(), usable_.end(), 0);
  panic_ = false;
  level_ = 0;
  const auto& levels = set.levels();
  for (size_t l = 0; l < levels.size() && candidates_.empty(); ++l) {
    for (uint32_t i : levels[l].members) {
      if (i >= rows) continue;
      const uint32_t w = health_->word(i);
      if (!HealthTable::word_available(w, now)) {
        if (TimeNs until = HealthTable::word_ejected_until(w, now))
          valid_until_ = std::min(valid_until_, until);
        continue;
      }
      uint64_t weight = uint64_t{set[i].weight} * kWeightScale;
      if (window > 0) {
        TimeNs age = HealthTable::word_available_for(w, now);
        if (age >= 0 && age < window) {
          uint64_t pct = std::max<uint64_t>(o.slow_start_min_percent,
                                            static_cast<uint64_t>(age * 100 / window));
          weight = std::max<uint64_t>(1, weight * pct / 100);
          TimeNs step = std::max<TimeNs>(window / 10, HealthTable::kTickNs);
          valid_until_ = std::min(valid_until_, now + std::min(step, window - age));
        }
      }
      candidates_.push_back(i);
      weights_.push_back(static_cast<uint32_t>(weight));
      usable_[i] = 1;
    }
    level_ = l;
  }
  if (candidates_.empty() && o.panic && rows > 0) {
    panic_ = true;
    level_ = LbPlan::kAllLevels;
    for (uint32_t i = 0; i < rows; ++i) {
      candidates_.push_back(i);
      weights_.push_back(set[i].weight * kWeightScale);
      usable_[i] = 1;
    }
  }
  total_weight_ = 0;
  equal_weights_ = true;
  for (uint32_t w : weights_) {
    total_weight_ += w;
    if (w != weights_[0]) equal_weights_ = false;
  }
  on_view_changed();
}

void LoadBalancer::on_request_end(uint32_t i, TimeNs latency, bool success, TimeNs now) {
  if (i >= outstanding_.size()) return;
  if (outstanding_[i] > 0) {
    --outstanding_[i];
    on_load_changed(i);
  }
  const LbOptions& o = plan_->options();
  double sample = static_cast<double>(std::max<TimeNs>(latency, 0));
  const bool fresh = ewma_[i] > 0 && now - ewma_at_[i] <= o.ewma_stale;
  if (!success) {
    sample = std::max({sample, fresh ? 2 * ewma_[i] : 0.0, static_cast<double>(o.failure_latency)});
    on_failure(i);
  }
  if (!fresh)
    ewma_[i] = sample;
  else
    ewma_[i] += (sample - ewma_[i]) * (o.ewma_alpha_percent / 100.0);
  if (ewma_[i] <= 0) ewma_[i] = 1;  // "has a sample"
  ewma_at_[i] = now;
}

}  // namespace portico::upstream
