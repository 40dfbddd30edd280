#include "proxy/upstream/outlier.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace portico::upstream {

OutlierDetector::OutlierDetector(const OutlierOptions& options, std::shared_ptr<HealthTable> table)
    : options_(options), table_(std::move(table)), states_(table_ ? table_->size() : 0) {
  options_.consecutive_failures = std::clamp<uint32_t>(options_.consecutive_failures, 1, 1000);
  options_.max_ejection_percent = std::min<uint32_t>(options_.max_ejection_percent, 100);
  options_.base_ejection = std::clamp<TimeNs>(options_.base_ejection, kNsPerMs, HealthTable::kMaxSpan);
  options_.max_ejection =
      std::clamp<TimeNs>(options_.max_ejection, options_.base_ejection, HealthTable::kMaxSpan);
}

bool OutlierDetector::on_result(uint32_t endpoint, Outcome outcome, TimeNs now) {
  if (endpoint >= states_.size()) return false;
  State& s = states_[endpoint];
  if (outcome == Outcome::kSuccess) {
    s.failures = 0;
    return false;
  }
  if (s.ejected_until > now) return false;  // already out: late results of old requests
  if (++s.failures < options_.consecutive_failures) return false;
  s.failures = 0;
  // bounded by max_ejection_percent of all endpoints, this one included
  const size_t n = states_.size();
  const size_t out = table_->ejected_count(now);
  if ((out + 1) * 100 > uint64_t{options_.max_ejection_percent} * n) {
    ++ejections_refused_;
    return false;
  }
  // decay: one step per base_ejection spent un-ejected since the last ejection
  if (s.ejections > 0 && s.ejected_until > 0) {
    uint64_t steps = static_cast<uint64_t>((now - s.ejected_until) / options_.base_ejection);
    s.ejections = steps >= s.ejections ? 0 : s.ejections - static_cast<uint32_t>(steps);
  }
  // 1000: not configuration, a bound on the multiplier; max_ejection caps the length.
  if (s.ejections < 1000) ++s.ejections;
  TimeNs length = options_.base_ejection * s.ejections;
  if (length / s.ejections != options_.base_ejection || length > options_.max_ejection)
    length = options_.max_ejection;
  s.ejected_until = now + length;
  if (!s.end_pending) ++pending_ends_;
  s.end_pending = true;
  table_->eject(endpoint, now, s.ejected_until);
  table_->set_reason(endpoint, "ejected: " + std::to_string(options_.consecutive_failures) +
                                   " consecutive failures, for " +
                                   std::to_string(length / kNsPerMs) + "ms");
  ++ejections_total_;
  return true;
}

void OutlierDetector::on_timer(TimeNs now) {
  for (size_t i = 0; i < states_.size() && pending_ends_ > 0; ++i) {
    State& s = states_[i];
    if (s.end_pending && s.ejected_until <= now) {
      s.end_pending = false;
      --pending_ends_;
      table_->set_reason(i, "ejection over");
    }
  }
  table_->maintain(now);
}

TimeNs OutlierDetector::next_wakeup() const {
  TimeNs next = std::numeric_limits<TimeNs>::max();
  if (pending_ends_ == 0) return next;
  // ejection ends (the reason is updated then)
  for (const State& s : states_)
    if (s.end_pending) next = std::min(next, s.ejected_until);
  return next;
}

uint32_t OutlierDetector::consecutive_failures(uint32_t endpoint) const {
  return endpoint < states_.size() ? states_[endpoint].failures : 0;
}
uint32_t OutlierDetector::ejection_count(uint32_t endpoint) const {
  return endpoint < states_.size() ? states_[endpoint].ejections : 0;
}
bool OutlierDetector::ejected(uint32_t endpoint, TimeNs now) const {
  return endpoint < states_.size() && states_[endpoint].ejected_until > now;
}

}  // namespace portico::upstream
