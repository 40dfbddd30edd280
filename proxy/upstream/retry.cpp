#include "proxy/upstream/retry.hpp"

#include <algorithm>
#include <charconv>

namespace portico::upstream {

RetryPolicy RetryPolicy::from_conf(const conf::Retries& r) {
  RetryPolicy p;
  p.attempts = std::min(r.attempts, kMaxAttempts);
  for (const auto& c : r.on) {
    if (c == "connect_failure") {
      p.on_connect_failure = true;
    } else if (c == "reset") {
      p.on_reset = true;
    } else if (c == "timeout") {
      p.on_timeout = true;
    } else if (c == "5xx") {
      p.on_5xx = true;
    } else {
      int code = 0;
      auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), code);
      // 64: not configuration, a guard (the loader allows 500..599 only)
      if (ec == std::errc() && end == c.data() + c.size() && code >= 100 && code <= 599 &&
          p.statuses.size() < 64)
        p.statuses.push_back(static_cast<uint16_t>(code));
    }
  }
  if (r.per_try_timeout) p.per_try_timeout = r.per_try_timeout->count();
  return p;
}

bool RetryPolicy::retries_on(FailureKind kind, int status) const {
  switch (kind) {
    case FailureKind::kConnectFailure: return on_connect_failure;
    case FailureKind::kReset: return on_reset;
    case FailureKind::kTimeout: return on_timeout;
    case FailureKind::kStatus:
      if (on_5xx && status >= 500 && status <= 599) return true;
      return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
  }
  return false;
}

bool is_idempotent_method(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" ||
         m == "DELETE";
}

void RetryBudget::request_finished() {
  uint32_t cur = active_.load(std::memory_order_relaxed);
  while (cur > 0 && !active_.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
  }
}

uint32_t RetryBudget::limit() const {
  uint64_t by_percent = uint64_t{active_.load(std::memory_order_relaxed)} * percent_ / 100;
  return static_cast<uint32_t>(std::max<uint64_t>(min_concurrent_, by_percent));
}

bool RetryBudget::try_start_retry() {
  uint32_t cur = retries_.load(std::memory_order_relaxed);
  do {
    if (cur >= limit()) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!retries_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
  return true;
}

void RetryBudget::retry_finished() {
  uint32_t cur = retries_.load(std::memory_order_relaxed);
  while (cur > 0 && !retries_.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
  }
}

const char* retry_decision_name(RetryDecision d) {
  switch (d) {
    case RetryDecision::kRetry: return "retry";
    case RetryDecision::kNotRetryable: return "not retryable";
    case RetryDecision::kUnsafe: return "request sent and method not idempotent";
    case RetryDecision::kExhausted: return "attempts exhausted";
    case RetryDecision::kBudget: return "retry budget exhausted";
    case RetryDecision::kNoTime: return "no time left";
  }
  return "?";
}

RetryState::RetryState(const RetryPolicy* policy, RetryBudget* budget, bool idempotent)
    : policy_(policy), budget_(budget), idempotent_(idempotent) {}

RetryState::~RetryState() { finish(); }

void RetryState::finish() {
  if (holds_budget_ && budget_ != nullptr) budget_->retry_finished();
  holds_budget_ = false;
}

RetryDecision RetryState::on_failure(const AttemptFailure& f, TimeNs now, TimeNs deadline) {
  if (policy_ == nullptr || !policy_->retries_on(f.kind, f.status))
    return RetryDecision::kNotRetryable;
  // a connect failure sent nothing, whatever the caller says
  const bool sent = f.kind != FailureKind::kConnectFailure && f.request_sent;
  if (sent && !idempotent_) return RetryDecision::kUnsafe;
  if (retries() >= policy_->attempts) return RetryDecision::kExhausted;
  if (deadline != 0 && now >= deadline) return RetryDecision::kNoTime;
  if (!holds_budget_ && budget_ != nullptr) {
    if (!budget_->try_start_retry()) return RetryDecision::kBudget;
    holds_budget_ = true;
  }
  return RetryDecision::kRetry;
}

TimeNs RetryState::try_deadline(TimeNs now, TimeNs deadline) const {
  TimeNs d = deadline;
  if (policy_ != nullptr && policy_->per_try_timeout > 0) {
    TimeNs t = now + policy_->per_try_timeout;
    d = d == 0 ? t : std::min(d, t);
  }
  return d;
}

}  // namespace portico::upstream
