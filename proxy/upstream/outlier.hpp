#pragma once
// OutlierDetector: passive health. It counts consecutive failed requests per
// endpoint (connect failure, reset, timeout, 5xx) and, at the threshold, ejects
// the endpoint in the shared HealthTable for base_ejection x (its number of
// ejections so far, this one included), capped at max_ejection, as long as no
// more than max_ejection_percent of the endpoints would be ejected at once.
// The count of past ejections decays by one per base_ejection spent un-ejected.
// Sans-I/O: the caller passes the time. Used on one thread (typically one
// detector per worker fed by that worker's traffic; ejections are global
// because they land in the shared table).

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "conf/config.hpp"
#include "proxy/base/clock.hpp"
#include "proxy/upstream/health_table.hpp"

namespace portico::upstream {

struct OutlierOptions {
  uint32_t consecutive_failures = 5;    // 1..1000
  TimeNs base_ejection = 30 * kNsPerSec;
  uint32_t max_ejection_percent = 50;   // 0..100; 0 = never eject
  TimeNs max_ejection = 300 * kNsPerSec;  // cap of one ejection (<= HealthTable::kMaxSpan)

  static OutlierOptions from_conf(const conf::Outlier& o) {
    OutlierOptions r;
    r.consecutive_failures = o.consecutive_failures;
    r.base_ejection = o.base_ejection.count();
    r.max_ejection_percent = o.max_ejection_percent;
    r.max_ejection = o.max_ejection ? o.max_ejection->count() : std::max(r.max_ejection, r.base_ejection);
    return r;
  }
};

// What became of one request (or connection attempt) to an endpoint.
enum class Outcome : uint8_t {
  kSuccess,         // any answer that is not a 5xx (a 4xx is the client's problem)
  kConnectFailure,
  kReset,
  kTimeout,
  kServerError,     // a 5xx status
};

class OutlierDetector {
 public:
  OutlierDetector(const OutlierOptions& options, std::shared_ptr<HealthTable> table);

  // Records an outcome; returns true if it ejected the endpoint just now.
  bool on_result(uint32_t endpoint, Outcome outcome, TimeNs now);
  // Publishes ended ejections (and table upkeep). Call at next_wakeup().
  void on_timer(TimeNs now);
  // When on_timer wants to run next (INT64_MAX: nothing pending).
  TimeNs next_wakeup() const;

  uint32_t consecutive_failures(uint32_t endpoint) const;
  uint32_t ejection_count(uint32_t endpoint) const;
  bool ejected(uint32_t endpoint, TimeNs now) const;
  uint64_t ejections_total() const { return ejections_total_; }
  uint64_t ejections_refused() const { return ejections_refused_; }  // over max percent
  const OutlierOptions& options() const { return options_; }

 private:
  struct State {
    uint32_t failures = 0;
    uint32_t ejections = 0;   // multiplier, decays
    TimeNs ejected_until = 0;  // end of the last ejection by this detector (0: none)
    bool end_pending = false;  // on_timer has not seen that end yet
  };
  OutlierOptions options_;
  std::shared_ptr<HealthTable> table_;
  std::vector<State> states_;
  uint64_t ejections_total_ = 0;
  uint64_t ejections_refused_ = 0;
  size_t pending_ends_ = 0;
};

}  // namespace portico::upstream
