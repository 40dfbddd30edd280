#include <doctest/doctest.h>

#include "proxy/upstream/outlier.hpp"
#include "upstream_test_util.hpp"

using namespace portico;
using namespace portico::upstream;
using namespace portico::upstream::test;

namespace {

OutlierOptions opts(uint32_t failures = 5, uint32_t percent = 100) {
  OutlierOptions o;
  o.consecutive_failures = failures;
  o.base_ejection = 30 * kNsPerSec;
  o.max_ejection_percent = percent;
  o.max_ejection = 300 * kNsPerSec;
  return o;
}

void fail(OutlierDetector& d, uint32_t i, int times, TimeNs now, Outcome o = Outcome::kServerError) {
  for (int k = 0; k < times; ++k) d.on_result(i, o, now);
}

}  // namespace

TEST_CASE("consecutive failures eject; a success in between resets the count") {
  auto table = std::make_shared<HealthTable>(4);
  OutlierDetector d(opts(), table);
  fail(d, 0, 4, kT0);
  d.on_result(0, Outcome::kSuccess, kT0);
  fail(d, 0, 4, kT0, Outcome::kConnectFailure);
  CHECK(table->available(0, kT0));
  CHECK(d.consecutive_failures(0) == 4);
  CHECK(d.on_result(0, Outcome::kReset, kT0));  // the fifth
  CHECK_FALSE(table->available(0, kT0));
  CHECK(d.ejected(0, kT0));
  CHECK(table->reason(0).find("ejected") != std::string::npos);
}

TEST_CASE("ejection lasts base_ejection x ejections so far, capped, and decays") {
  auto table = std::make_shared<HealthTable>(4);
  OutlierDetector d(opts(), table);
  TimeNs t = kT0;
  fail(d, 1, 5, t);
  CHECK(d.next_wakeup() == t + 30 * kNsPerSec);
  CHECK_FALSE(table->available(1, t + 30 * kNsPerSec - kNsPerMs));
  CHECK(table->available(1, t + 30 * kNsPerSec));
  // failures of in-flight requests while ejected do not extend it
  fail(d, 1, 10, t + kNsPerSec);
  CHECK(d.ejection_count(1) == 1);
  d.on_timer(t + 30 * kNsPerSec);
  CHECK(table->reason(1) == "ejection over");
  CHECK(d.next_wakeup() == INT64_MAX);

  // second ejection right after: 60s
  t += 30 * kNsPerSec;
  fail(d, 1, 5, t);
  CHECK(d.ejection_count(1) == 2);
  CHECK_FALSE(table->available(1, t + 60 * kNsPerSec - kNsPerMs));
  CHECK(table->available(1, t + 60 * kNsPerSec));
  // keep failing as soon as it is back: 90s, ... capped at 300s
  for (int k = 3; k <= 12; ++k) {
    t = HealthTable::word_ejected_until(table->word(1), t) ;
    REQUIRE(t > 0);
    fail(d, 1, 5, t);
  }
  CHECK(d.ejection_count(1) == 12);
  TimeNs until = HealthTable::word_ejected_until(table->word(1), t);
  CHECK(until - t == 300 * kNsPerSec);

  // decay: 10 x 30s of good behaviour takes 10 off the multiplier
  t = until + 300 * kNsPerSec;
  fail(d, 1, 5, t);
  CHECK(d.ejection_count(1) == 3);
  CHECK(HealthTable::word_ejected_until(table->word(1), t) - t == 90 * kNsPerSec);
}

TEST_CASE("max_ejection_percent bounds how many endpoints are out at once") {
  auto table = std::make_shared<HealthTable>(4);
  OutlierDetector d(opts(5, 50), table);
  CHECK(d.on_result(0, Outcome::kServerError, kT0) == false);
  fail(d, 0, 5, kT0);
  fail(d, 1, 5, kT0);
  fail(d, 2, 5, kT0);  // a third would be 75%
  CHECK_FALSE(table->available(0, kT0));
  CHECK_FALSE(table->available(1, kT0));
  CHECK(table->available(2, kT0));
  CHECK(d.ejections_refused() == 1);
  CHECK(d.ejections_total() == 2);
  // once one is back, another may go
  fail(d, 2, 5, kT0 + 30 * kNsPerSec);
  CHECK_FALSE(table->available(2, kT0 + 30 * kNsPerSec));
  // 0% never ejects
  auto t2 = std::make_shared<HealthTable>(4);
  OutlierDetector none(opts(1, 0), t2);
  CHECK_FALSE(none.on_result(0, Outcome::kTimeout, kT0));
  CHECK(t2->available(0, kT0));
}

TEST_CASE("an ejected endpoint is skipped by balancers until the ejection ends") {
  LbOptions o;
  o.policy = conf::LbPolicy::kRoundRobin;
  Harness h(make_set(equal(3)), o);
  OutlierDetector d(opts(2), h.table);
  fail(d, 2, 2, kT0);
  CHECK(h.count(300, kT0 + kNsPerSec)[2] == 0);
  CHECK(h.count(300, kT0 + 30 * kNsPerSec)[2] == 100);
}

TEST_CASE("out-of-range endpoints are ignored") {
  auto table = std::make_shared<HealthTable>(1);
  OutlierDetector d(opts(1), table);
  CHECK_FALSE(d.on_result(5, Outcome::kServerError, kT0));
  CHECK(d.consecutive_failures(5) == 0);
}

TEST_CASE("outlier options from the config: max_ejection set, or max(300s, base_ejection)") {
  conf::Outlier o;
  o.base_ejection = std::chrono::seconds(10);
  CHECK(OutlierOptions::from_conf(o).max_ejection == 300 * kNsPerSec);
  o.base_ejection = std::chrono::minutes(10);
  CHECK(OutlierOptions::from_conf(o).max_ejection == 600 * kNsPerSec);
  o.base_ejection = std::chrono::seconds(10);
  o.max_ejection = std::chrono::seconds(25);
  OutlierOptions opt = OutlierOptions::from_conf(o);
  CHECK(opt.max_ejection == 25 * kNsPerSec);
  // the cap applies: 10s, 20s, then 25s instead of 30s
  auto table = std::make_shared<HealthTable>(4);
  OutlierDetector d(opt, table);
  TimeNs t = kT0;
  for (TimeNs want : {10 * kNsPerSec, 20 * kNsPerSec, 25 * kNsPerSec}) {
    fail(d, 2, 5, t);
    const TimeNs until = HealthTable::word_ejected_until(table->word(2), t);
    CHECK(until - t == want);
    t = until;
  }
}
