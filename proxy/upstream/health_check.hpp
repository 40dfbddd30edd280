#pragma once
// HealthChecker: the active health check state machine of one cluster,
// sans-I/O. It decides when each endpoint is checked (interval plus random
// jitter from the injected Random, first checks spread over one interval),
// emits CheckAction kStart ("open a check to endpoint i now") and kAbort ("the
// check timed out: cancel it"), consumes results, applies rise/fall, and
// publishes up/down with a reason to the shared HealthTable. One checker per
// cluster, owned and driven by a single worker (the glue picks which).
//
// Glue loop:
//   checker.on_timer(now, actions);              // at or after next_wakeup()
//   for (a : actions) kStart: tcp connect (type tcp) or connect and send
//                              build_http_request(a.endpoint) (type http);
//                     kAbort:  cancel that check's I/O (already counted failed)
//   when a check ends: on_connect_result(id, ok, reason, now)   (tcp)
//                      on_http_status(id, status, now)          (http: status
//                      line parsed by http::ResponseParser), or
//                      on_result(id, false, "reset", now)       (any failure)
//   re-arm the timer at next_wakeup().

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "proxy/base/clock.hpp"
#include "proxy/upstream/endpoint_set.hpp"
#include "proxy/upstream/health_table.hpp"
#include "proxy/upstream/random.hpp"

namespace portico::upstream {

struct HealthCheckOptions {
  enum class Type : uint8_t { kTcp, kHttp } type = Type::kTcp;
  std::string method = "GET";
  std::string path = "/";
  std::optional<std::string> host;  // Host header; default: the endpoint's address
  std::vector<int> expect = {200};
  TimeNs interval = 5 * kNsPerSec;   // >= 1ms
  TimeNs timeout = 1 * kNsPerSec;    // >= 1ms
  uint32_t rise = 2;                 // 1..100 consecutive successes to go up
  uint32_t fall = 3;                 // 1..100 consecutive failures to go down
  uint32_t jitter_percent = 10;      // each interval + uniform [0, interval x jitter%)...
  TimeNs jitter = -1;                // ...or, when >= 0, + uniform [0, jitter) (at most interval)
  uint32_t max_in_flight = 256;      // concurrent checks; later ones wait their turn
  bool start_healthy = true;         // false: down until `rise` successes

  static HealthCheckOptions from_conf(const conf::HealthCheck& h);
};

struct CheckAction {
  enum class Kind : uint8_t { kStart, kAbort } kind;
  uint32_t endpoint;
  uint64_t id;  // pass back with the result; stale ids are ignored
};

class HealthChecker {
 public:
  // nullptr and *err on invalid options (e.g. CR/LF or spaces in method, path, host).
  static std::unique_ptr<HealthChecker> create(const HealthCheckOptions& options,
                                               std::shared_ptr<const EndpointSet> set,
                                               std::shared_ptr<HealthTable> table, Random& rng,
                                               TimeNs now, std::string* err);

  void on_timer(TimeNs now, std::vector<CheckAction>& out);
  // When on_timer wants to run (INT64_MAX: never).
  TimeNs next_wakeup() const;

  // A check finished. Stale or unknown ids are ignored (returns false).
  bool on_result(uint64_t id, bool ok, std::string_view reason, TimeNs now);
  // tcp: the connect finished (ok), or failed with `reason`.
  bool on_connect_result(uint64_t id, bool ok, std::string_view reason, TimeNs now) {
    return on_result(id, ok, ok ? "connected" : reason, now);
  }
  // http: the response status line arrived; ok iff the status is in `expect`.
  bool on_http_status(uint64_t id, int status, TimeNs now);

  // The request bytes of an http check of endpoint i (into `out`, replaced).
  void build_http_request(uint32_t endpoint, std::string& out) const;
  bool status_expected(int status) const;

  struct Status {
    bool healthy = true;
    uint32_t successes = 0;  // consecutive
    uint32_t failures = 0;   // consecutive
    bool in_flight = false;
    uint64_t checks = 0;
    std::string last_reason;
  };
  const Status& status(uint32_t endpoint) const { return states_[endpoint].status; }
  size_t in_flight() const { return in_flight_; }
  const HealthCheckOptions& options() const { return options_; }

 private:
  HealthChecker(const HealthCheckOptions& options, std::shared_ptr<const EndpointSet> set,
                std::shared_ptr<HealthTable> table, Random& rng);
  struct State {
    Status status;
    uint64_t id = 0;         // of the check in flight
    uint32_t seq = 0;
    TimeNs next_start = 0;   // due time of the next check (when idle)
    TimeNs deadline = 0;     // timeout of the check in flight
  };
  struct Event {
    TimeNs at;
    uint32_t endpoint;
    uint32_t seq;
    bool timeout;
    bool operator>(const Event& o) const { return at > o.at; }
  };
  using Heap = std::priority_queue<Event, std::vector<Event>, std::greater<Event>>;
  void finish(uint32_t endpoint, bool ok, std::string_view reason, TimeNs now);
  void schedule(uint32_t endpoint, TimeNs from);
  TimeNs jitter();

  HealthCheckOptions options_;
  std::shared_ptr<const EndpointSet> set_;
  std::shared_ptr<HealthTable> table_;
  Random& rng_;
  std::vector<State> states_;
  Heap starts_;    // due checks (lazy: stale entries skipped by seq)
  Heap timeouts_;  // deadlines of checks in flight
  size_t in_flight_ = 0;
};

}  // namespace portico::upstream
