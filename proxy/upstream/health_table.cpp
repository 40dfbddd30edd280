#include "proxy/upstream/health_table.hpp"

#include <algorithm>
#include <unordered_map>

#include "proxy/upstream/endpoint_set.hpp"

namespace portico::upstream {
namespace {

uint32_t tick_field(uint32_t w) { return w >> HealthTable::kTickShift; }
uint32_t with_tick(uint32_t w, uint32_t tick) {
  return (w & ((1u << HealthTable::kTickShift) - 1)) | (tick << HealthTable::kTickShift);
}

}  // namespace

HealthTable::HealthTable(size_t endpoints) : words_(endpoints), reasons_(endpoints) {
  for (auto& w : words_) w.store(0, std::memory_order_relaxed);
}

uint32_t HealthTable::tick_of(TimeNs now) {
  uint32_t t = static_cast<uint32_t>(static_cast<uint64_t>(now) / kTickNs) & kTickMask;
  return t == 0 ? 1 : t;  // 0 means "no tick"
}

int32_t HealthTable::tick_diff(uint32_t a, uint32_t b) {
  uint32_t d = (a - b) & kTickMask;
  // sign-extend the 30-bit difference
  return static_cast<int32_t>(d << 2) >> 2;
}

bool HealthTable::word_available(uint32_t w, TimeNs now) {
  if (w & kActiveUnhealthy) return false;
  if (w & kEjected) return tick_diff(tick_field(w), tick_of(now)) <= 0;
  return true;
}

TimeNs HealthTable::word_ejected_until(uint32_t w, TimeNs now) {
  if (!(w & kEjected)) return 0;
  int32_t d = tick_diff(tick_field(w), tick_of(now));
  if (d <= 0) return 0;
  // align on the tick boundary so that now >= the result means available
  return (now / kTickNs + d) * kTickNs;
}

TimeNs HealthTable::word_available_for(uint32_t w, TimeNs now) {
  uint32_t t = tick_field(w);
  if (t == 0) return -1;
  int32_t d = tick_diff(tick_of(now), t);
  if (d < 0) return -1;
  return static_cast<TimeNs>(d) * kTickNs;
}

template <typename F>
void HealthTable::update(size_t i, F&& f) {
  if (i >= words_.size()) return;
  uint32_t cur = words_[i].load(std::memory_order_relaxed);
  uint32_t next;
  do {
    next = f(cur);
    if (next == cur) return;
  } while (!words_[i].compare_exchange_weak(cur, next, std::memory_order_acq_rel,
                                            std::memory_order_relaxed));
  version_.fetch_add(1, std::memory_order_acq_rel);
}

void HealthTable::set_active(size_t i, bool healthy, TimeNs now, std::string_view reason) {
  update(i, [&](uint32_t w) {
    if (healthy) {
      if (!(w & kActiveUnhealthy)) return w;
      w &= ~kActiveUnhealthy;
      // an ejection still running keeps its end tick; its end is the recovery
      return (w & kEjected) ? w : with_tick(w, tick_of(now));
    }
    return w | kActiveUnhealthy;
  });
  set_reason(i, reason);
}

void HealthTable::eject(size_t i, TimeNs now, TimeNs until) {
  until = std::min(until, now + kMaxSpan);
  if (until <= now) return;
  update(i, [&](uint32_t w) { return with_tick(w | kEjected, tick_of(until + kTickNs - 1)); });
}

void HealthTable::maintain(TimeNs now) {
  TimeNs last = last_maintain_.load(std::memory_order_relaxed);
  if (last != 0 && now - last < kMaintainEvery) return;
  if (!last_maintain_.compare_exchange_strong(last, now)) return;  // someone else does it
  const int32_t max_ticks = static_cast<int32_t>(kMaxSpan / kTickNs);
  for (size_t i = 0; i < words_.size(); ++i) {
    update(i, [&](uint32_t w) {
      if ((w & kEjected) && word_available(w, now)) w &= ~kEjected;  // tick = recovery
      if (!(w & kEjected) && tick_field(w) != 0) {
        int32_t age = tick_diff(tick_of(now), tick_field(w));
        if (age < 0 || age > max_ticks) w = with_tick(w, 0);
      }
      return w;
    });
  }
}

void HealthTable::set_reason(size_t i, std::string_view reason) {
  if (i >= reasons_.size()) return;
  std::lock_guard<std::mutex> lock(reason_mu_);
  if (reasons_[i] != reason) reasons_[i].assign(reason.substr(0, kMaxReason));
}

std::string HealthTable::reason(size_t i) const {
  if (i >= reasons_.size()) return {};
  std::lock_guard<std::mutex> lock(reason_mu_);
  return reasons_[i];
}

size_t HealthTable::ejected_count(TimeNs now) const {
  size_t n = 0;
  for (const auto& w : words_) {
    uint32_t v = w.load(std::memory_order_acquire);
    if ((v & kEjected) && !word_available(v & ~kActiveUnhealthy, now)) ++n;
  }
  return n;
}

void HealthTable::carry_over(const EndpointSet& old_set, const HealthTable& old_table,
                             const EndpointSet& new_set) {
  std::unordered_map<std::string_view, size_t> old_index;
  old_index.reserve(old_set.size());
  for (size_t i = 0; i < old_set.size() && i < old_table.size(); ++i) old_index[old_set.key(i)] = i;
  for (size_t i = 0; i < new_set.size() && i < size(); ++i) {
    auto it = old_index.find(new_set.key(i));
    if (it == old_index.end()) continue;
    uint32_t w = old_table.word(it->second);
    update(i, [&](uint32_t) { return w; });
    set_reason(i, old_table.reason(it->second));
  }
}

}  // namespace portico::upstream
