#pragma once
// Retries. RetryPolicy (from a route's `retries:`) says which failures may be
// retried and how often; RetryBudget (one per cluster, shared by all workers,
// atomics) caps concurrent retries at max(min_concurrent, percent of active
// requests) so a failing cluster is not hammered; RetryState (one per request,
// on its worker) remembers the endpoints tried (pass tried() as the
// PickContext's exclusion so each try goes elsewhere) and decides after each
// failed attempt. Retrying is safe only if no request byte was sent or the
// method is idempotent.

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "proxy/base/clock.hpp"
#include "proxy/upstream/load_balancer.hpp"

namespace portico::upstream {

enum class FailureKind : uint8_t {
  kConnectFailure,  // no connection: nothing was sent
  kReset,           // the connection broke before a complete response head
  kTimeout,         // connect, per-try or response timeout
  kStatus,          // a response arrived with a status listed in the policy
};

struct RetryPolicy {
  static constexpr uint32_t kMaxAttempts = 10;  // = the loader's bound on `retries.attempts`
  uint32_t attempts = 0;  // extra tries after the first
  bool on_connect_failure = false;
  bool on_reset = false;
  bool on_timeout = false;
  bool on_5xx = false;
  std::vector<uint16_t> statuses;  // explicit codes ("503")
  TimeNs per_try_timeout = 0;      // 0 = only the overall timeout

  // Unknown `on` strings are ignored (the loader already refused them).
  static RetryPolicy from_conf(const conf::Retries& r);
  bool enabled() const { return attempts > 0; }
  // Would this failure kind / status be retried by the policy's `on` list?
  bool retries_on(FailureKind kind, int status) const;
  bool retries_status(int status) const { return retries_on(FailureKind::kStatus, status); }
};

// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 9.2.2). Case-sensitive.
bool is_idempotent_method(std::string_view method);

class RetryBudget {
 public:
  explicit RetryBudget(uint32_t percent = 20, uint32_t min_concurrent = 3)
      : percent_(percent > 100 ? 100 : percent), min_concurrent_(min_concurrent) {}
  // Every request to the cluster, retried or not (drives the percentage).
  void request_started() { active_.fetch_add(1, std::memory_order_relaxed); }
  void request_finished();
  // A retry may start now (counted until retry_finished); false = budget spent.
  bool try_start_retry();
  void retry_finished();

  uint32_t active_requests() const { return active_.load(std::memory_order_relaxed); }
  uint32_t active_retries() const { return retries_.load(std::memory_order_relaxed); }
  uint32_t limit() const;
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  uint32_t percent_;
  uint32_t min_concurrent_;
  std::atomic<uint32_t> active_{0};
  std::atomic<uint32_t> retries_{0};
  std::atomic<uint64_t> refused_{0};
};

struct AttemptFailure {
  FailureKind kind = FailureKind::kConnectFailure;
  int status = 0;             // kStatus: the response status
  bool request_sent = false;  // any byte of the request reached the socket
};

enum class RetryDecision : uint8_t {
  kRetry,           // pick another endpoint (exclusion = tried()) and try again
  kNotRetryable,    // the policy's `on` list does not cover this failure
  kUnsafe,          // bytes were sent and the method is not idempotent
  kExhausted,       // no attempts left
  kBudget,          // the cluster's retry budget is spent
  kNoTime,          // the overall deadline has passed
};
const char* retry_decision_name(RetryDecision d);

class RetryState {
 public:
  // `budget` may be null (no budget). Both must outlive the state.
  RetryState(const RetryPolicy* policy, RetryBudget* budget, bool idempotent);
  ~RetryState();
  RetryState(const RetryState&) = delete;
  RetryState& operator=(const RetryState&) = delete;

  // Call when an attempt goes to `endpoint`.
  void on_attempt(uint32_t endpoint) {
    tried_.add(endpoint);
    ++attempts_;
  }
  // After a failed attempt: may the request try again? `now`/`deadline` is the
  // overall request deadline (0 = none). kRetry holds a budget slot until the
  // state ends (destructor or finish()).
  RetryDecision on_failure(const AttemptFailure& f, TimeNs now, TimeNs deadline);
  // Deadline of the next attempt: now + per_try_timeout, not past `deadline`.
  TimeNs try_deadline(TimeNs now, TimeNs deadline) const;
  void finish();

  const Exclusion& tried() const { return tried_; }
  uint32_t attempts() const { return attempts_; }
  uint32_t retries() const { return attempts_ > 0 ? attempts_ - 1 : 0; }

 private:
  const RetryPolicy* policy_;
  RetryBudget* budget_;
  bool idempotent_;
  bool holds_budget_ = false;
  uint32_t attempts_ = 0;
  Exclusion tried_;
};

}  // namespace portico::upstream
