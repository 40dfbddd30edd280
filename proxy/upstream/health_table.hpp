#pragma once
// HealthTable: one std::atomic<uint32_t> per endpoint of an EndpointSet, shared
// by every worker (std::shared_ptr). Readers (balancers on any worker) load words
// lock-free; writers (the HealthChecker's owner for the active bit, any worker's
// OutlierDetector for ejections) update them with a CAS loop and then bump
// version(), which balancers poll to know when to rebuild their cached view.
// The human-readable reason per endpoint (admin endpoint) sits behind a mutex:
// written on health changes, never touched by the pick path.
//
// Word layout:  bit 0  kActiveUnhealthy  the active health check says down
//               bit 1  kEjected          outlier detection ejected it
//               bits 2..31  tick         ms ticks (mod 2^30) of the monotonic clock:
//                 ejected: the tick the ejection ends (available from then on);
//                 otherwise: the tick it last became available (slow start), 0 = long ago.
// Ticks compare in serial-number arithmetic, so a value means something for
// +-6 days; maintain() clears old ticks well before that.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/base/clock.hpp"

namespace portico::upstream {

class EndpointSet;

class HealthTable {
 public:
  static constexpr uint32_t kActiveUnhealthy = 1u << 0;
  static constexpr uint32_t kEjected = 1u << 1;
  static constexpr int kTickShift = 2;
  static constexpr uint32_t kTickMask = (1u << 30) - 1;
  static constexpr TimeNs kTickNs = kNsPerMs;
  // Longest span a tick may describe (ejection length, slow-start window).
  // Not configuration: the word holds 30 bits of ms ticks (~12 days) and
  // every key it bounds (base_ejection, max_ejection, slow_start) is itself
  // bounded to 1d by the loader.
  static constexpr TimeNs kMaxSpan = 24LL * 3600 * kNsPerSec;

  explicit HealthTable(size_t endpoints);
  HealthTable(const HealthTable&) = delete;
  HealthTable& operator=(const HealthTable&) = delete;

  size_t size() const { return words_.size(); }

  // ---- readers: any thread, lock-free ----
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  uint32_t word(size_t i) const { return words_[i].load(std::memory_order_acquire); }
  bool available(size_t i, TimeNs now) const { return word_available(word(i), now); }
  static bool word_available(uint32_t w, TimeNs now);
  // When the endpoint of word `w` stops being unavailable (ejection end), or 0.
  static TimeNs word_ejected_until(uint32_t w, TimeNs now);
  // How long the endpoint of an available word has been available, or -1 if
  // unknown (long ago, or never marked).
  static TimeNs word_available_for(uint32_t w, TimeNs now);
  static uint32_t tick_of(TimeNs now);
  // Signed distance a - b between ticks, in ticks.
  static int32_t tick_diff(uint32_t a, uint32_t b);

  // ---- writers: any thread (CAS); each bumps version() on a change ----
  // Active health check result. Going healthy records `now` as the recovery
  // tick (slow start); the reason is kept for the admin endpoint.
  void set_active(size_t i, bool healthy, TimeNs now, std::string_view reason);
  // Ejects until `until` (clamped to now + kMaxSpan).
  void eject(size_t i, TimeNs now, TimeNs until);
  // Clears the ejected bit of endpoints whose ejection ended (the tick then
  // records the recovery) and forgets ticks older than kMaxSpan. Cheap to call
  // often: it scans at most once per kMaintainEvery.
  void maintain(TimeNs now);
  void set_reason(size_t i, std::string_view reason);
  // Reasons are cut to this many bytes (not configuration: a log/admin line,
  // bounded so a hostile check response cannot grow the table).
  static constexpr size_t kMaxReason = 200;
  // Copies the state of endpoints present in both sets (matched by address),
  // for a discovery update: new endpoints start healthy.
  void carry_over(const EndpointSet& old_set, const HealthTable& old_table,
                  const EndpointSet& new_set);

  // ---- introspection (admin): any thread ----
  std::string reason(size_t i) const;
  // Endpoints unavailable through ejection at `now` (O(n)).
  size_t ejected_count(TimeNs now) const;

  // Not configuration: the rate of an O(n) housekeeping scan (forgetting
  // ended ejections' ticks long before the 30-bit tick space wraps).
  static constexpr TimeNs kMaintainEvery = 10 * kNsPerSec;

 private:
  template <typename F>
  void update(size_t i, F&& f);

  std::vector<std::atomic<uint32_t>> words_;
  std::atomic<uint64_t> version_{1};
  std::atomic<TimeNs> last_maintain_{0};
  mutable std::mutex reason_mu_;
  std::vector<std::string> reasons_;  // guarded by reason_mu_
};

}  // namespace portico::upstream
