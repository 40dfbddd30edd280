#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "proxy/upstream/circuit_breaker.hpp"
#include "proxy/upstream/retry.hpp"
#include "upstream_test_util.hpp"

using namespace portico;
using namespace portico::upstream;
using namespace portico::upstream::test;

namespace {

RetryPolicy policy(uint32_t attempts, std::vector<std::string> on) {
  conf::Retries r;
  r.attempts = attempts;
  r.on = std::move(on);
  r.per_try_timeout = std::chrono::milliseconds(250);
  return RetryPolicy::from_conf(r);
}

}  // namespace

TEST_CASE("retry policy from the config's on list") {
  auto p = policy(2, {"connect_failure", "503", "timeout", "bogus"});
  CHECK(p.attempts == 2);
  CHECK(p.retries_on(FailureKind::kConnectFailure, 0));
  CHECK(p.retries_on(FailureKind::kTimeout, 0));
  CHECK_FALSE(p.retries_on(FailureKind::kReset, 0));
  CHECK(p.retries_status(503));
  CHECK_FALSE(p.retries_status(502));
  CHECK(p.per_try_timeout == 250 * kNsPerMs);
  auto q = policy(20, {"5xx", "reset"});
  CHECK(q.attempts == RetryPolicy::kMaxAttempts);
  CHECK(q.retries_status(500));
  CHECK(q.retries_status(599));
  CHECK_FALSE(q.retries_status(404));
  CHECK(q.retries_on(FailureKind::kReset, 0));
}

TEST_CASE("idempotent methods") {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) CHECK(is_idempotent_method(m));
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", ""}) CHECK_FALSE(is_idempotent_method(m));
}

TEST_CASE("a failed attempt is retried only if safe, covered and attempts remain") {
  auto p = policy(2, {"connect_failure", "reset", "5xx"});
  {
    RetryState post(&p, nullptr, false);
    post.on_attempt(0);
    // nothing sent: safe even for POST
    CHECK(post.on_failure({FailureKind::kConnectFailure, 0, true}, kT0, 0) == RetryDecision::kRetry);
    post.on_attempt(1);
    CHECK(post.on_failure({FailureKind::kReset, 0, true}, kT0, 0) == RetryDecision::kUnsafe);
    CHECK(post.on_failure({FailureKind::kReset, 0, false}, kT0, 0) == RetryDecision::kRetry);
    post.on_attempt(2);
    CHECK(post.on_failure({FailureKind::kConnectFailure, 0, false}, kT0, 0) ==
          RetryDecision::kExhausted);
    CHECK(post.retries() == 2);
  }
  RetryState get(&p, nullptr, true);
  get.on_attempt(0);
  CHECK(get.on_failure({FailureKind::kStatus, 502, true}, kT0, 0) == RetryDecision::kRetry);
  CHECK(get.on_failure({FailureKind::kStatus, 404, true}, kT0, 0) == RetryDecision::kNotRetryable);
  CHECK(get.on_failure({FailureKind::kTimeout, 0, true}, kT0, 0) == RetryDecision::kNotRetryable);
  CHECK(get.on_failure({FailureKind::kReset, 0, true}, kT0, kT0) == RetryDecision::kNoTime);
  RetryState none(nullptr, nullptr, true);
  CHECK(none.on_failure({FailureKind::kConnectFailure, 0, false}, kT0, 0) ==
        RetryDecision::kNotRetryable);
  CHECK(std::string(retry_decision_name(RetryDecision::kBudget)) == "retry budget exhausted");
}

TEST_CASE("per-try deadline is the per_try_timeout, never past the overall deadline") {
  auto p = policy(1, {"timeout"});
  RetryState s(&p, nullptr, true);
  CHECK(s.try_deadline(kT0, 0) == kT0 + 250 * kNsPerMs);
  CHECK(s.try_deadline(kT0, kT0 + 100 * kNsPerMs) == kT0 + 100 * kNsPerMs);
  RetryPolicy no_per_try;
  RetryState t(&no_per_try, nullptr, true);
  CHECK(t.try_deadline(kT0, kT0 + kNsPerSec) == kT0 + kNsPerSec);
}

TEST_CASE("retry budget: at most 20% of active requests, at least 3 concurrent retries") {
  auto p = policy(3, {"connect_failure"});
  RetryBudget budget(20, 3);
  for (int k = 0; k < 10; ++k) budget.request_started();
  CHECK(budget.limit() == 3);
  std::vector<std::unique_ptr<RetryState>> states;
  int granted = 0;
  for (int k = 0; k < 10; ++k) {
    states.push_back(std::make_unique<RetryState>(&p, &budget, true));
    states.back()->on_attempt(0);
    granted += states.back()->on_failure({FailureKind::kConnectFailure, 0, false}, kT0, 0) ==
               RetryDecision::kRetry;
  }
  CHECK(granted == 3);
  CHECK(budget.active_retries() == 3);
  CHECK(budget.refused() == 7);
  // a request retrying again keeps its one slot
  states[0]->on_attempt(1);
  CHECK(states[0]->on_failure({FailureKind::kConnectFailure, 0, false}, kT0, 0) == RetryDecision::kRetry);
  CHECK(budget.active_retries() == 3);
  // finishing frees the slot
  states[0].reset();
  CHECK(budget.active_retries() == 2);
  CHECK(states[5]->on_failure({FailureKind::kConnectFailure, 0, false}, kT0, 0) == RetryDecision::kRetry);
  // many active requests raise the limit
  for (int k = 0; k < 90; ++k) budget.request_started();
  CHECK(budget.limit() == 20);
  states.clear();
  CHECK(budget.active_retries() == 0);
  for (int k = 0; k < 200; ++k) budget.request_finished();
  CHECK(budget.active_requests() == 0);
}

TEST_CASE("each retry goes to an endpoint not tried yet") {
  auto p = policy(2, {"connect_failure"});
  for (conf::LbPolicy lbp : {conf::LbPolicy::kRoundRobin, conf::LbPolicy::kRingHash,
                             conf::LbPolicy::kLeastRequest, conf::LbPolicy::kMaglev}) {
    Harness h(equal(3), lbp);
    for (uint64_t key = 1; key < 50; ++key) {
      RetryState s(&p, nullptr, true);
      std::vector<uint32_t> seen;
      for (int attempt = 0; attempt < 3; ++attempt) {
        auto i = h.lb->pick({kT0, key * 1000003, &s.tried()});
        REQUIRE(i);
        seen.push_back(*i);
        s.on_attempt(*i);
        if (attempt < 2)
          CHECK(s.on_failure({FailureKind::kConnectFailure, 0, false}, kT0, 0) == RetryDecision::kRetry);
      }
      CHECK(seen[0] != seen[1]);
      CHECK(seen[0] != seen[2]);
      CHECK(seen[1] != seen[2]);
    }
  }
}

TEST_CASE("circuit breakers cap connections and pending requests per endpoint") {
  CircuitBreakers cb(2, 2, 1);
  CHECK(cb.try_open_connection(0));
  CHECK(cb.try_open_connection(0));
  CHECK_FALSE(cb.try_open_connection(0));
  CHECK(cb.try_open_connection(1));  // per endpoint
  CHECK(cb.connections(0) == 2);
  cb.connection_closed(0);
  CHECK(cb.try_open_connection(0));
  CHECK(cb.try_add_pending(1));
  CHECK_FALSE(cb.try_add_pending(1));
  cb.pending_done(1);
  cb.pending_done(1);  // unmatched: stays at zero
  CHECK(cb.pending(1) == 0);
  CHECK(cb.overflows() == 2);
  CHECK_FALSE(cb.try_open_connection(9));
  CircuitBreakers unlimited(1, 0, 0);
  for (int k = 0; k < 1000; ++k) CHECK(unlimited.try_open_connection(0));
  CHECK(unlimited.connections(0) == 1000);
  conf::Cluster c;
  c.max_connections = 5;
  CHECK(CircuitBreakers::for_cluster(c, 3)->max_connections() == 5);
}
