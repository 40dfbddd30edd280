#include <doctest/doctest.h>

#include <map>
#include <set>

#include "proxy/upstream/health_check.hpp"
#include "upstream_test_util.hpp"

using namespace portico;
using namespace portico::upstream;
using namespace portico::upstream::test;

namespace {

HealthCheckOptions http_opts() {
  HealthCheckOptions o;
  o.type = HealthCheckOptions::Type::kHttp;
  o.path = "/healthz";
  o.expect = {200, 204};
  o.interval = 2 * kNsPerSec;
  o.timeout = kNsPerSec;
  o.rise = 2;
  o.fall = 3;
  return o;
}

// Drives a checker with a fake clock in 10 ms steps. `answer` gives the status
// each endpoint answers with (0 = never answers: timeout) and the delay.
struct Driver {
  std::shared_ptr<const EndpointSet> set;
  std::shared_ptr<HealthTable> table;
  SeededRandom rng{77};
  std::unique_ptr<HealthChecker> checker;
  TimeNs now = kT0;
  std::map<uint32_t, int> answer;
  TimeNs delay = 5 * kNsPerMs;
  struct Pending {
    TimeNs at;
    uint64_t id;
    uint32_t endpoint;
  };
  std::vector<Pending> pending;
  std::vector<std::vector<TimeNs>> starts;
  size_t aborts = 0;
  size_t max_in_flight = 0;

  explicit Driver(size_t n, HealthCheckOptions o = http_opts()) {
    set = make_set(equal(n));
    table = std::make_shared<HealthTable>(n);
    std::string err;
    checker = HealthChecker::create(o, set, table, rng, now, &err);
    REQUIRE(checker);
    starts.resize(n);
    for (uint32_t i = 0; i < n; ++i) answer[i] = 200;
  }
  void run_until(TimeNs end) {
    std::vector<CheckAction> out;
    while (now < end) {
      now += 10 * kNsPerMs;
      for (size_t k = 0; k < pending.size();) {
        if (pending[k].at <= now) {
          checker->on_http_status(pending[k].id, answer[pending[k].endpoint], now);
          pending[k] = pending.back();
          pending.pop_back();
        } else {
          ++k;
        }
      }
      if (checker->next_wakeup() > now) continue;
      out.clear();
      checker->on_timer(now, out);
      for (const auto& a : out) {
        if (a.kind == CheckAction::Kind::kAbort) {
          ++aborts;
          continue;
        }
        starts[a.endpoint].push_back(now);
        if (answer[a.endpoint] != 0) pending.push_back({now + delay, a.id, a.endpoint});
      }
      max_in_flight = std::max(max_in_flight, checker->in_flight());
    }
  }
};

}  // namespace

TEST_CASE("first checks spread over one interval, then interval plus jitter") {
  Driver d(20);
  d.run_until(kT0 + 20 * kNsPerSec);
  std::set<TimeNs> firsts;
  for (const auto& s : d.starts) {
    REQUIRE(s.size() >= 8);
    CHECK(s[0] < kT0 + 2 * kNsPerSec + 20 * kNsPerMs);
    firsts.insert(s[0]);
    for (size_t k = 1; k < s.size(); ++k) {
      TimeNs gap = s[k] - s[k - 1];
      CHECK(gap >= 2 * kNsPerSec);
      CHECK(gap <= 2 * kNsPerSec + 200 * kNsPerMs + 10 * kNsPerMs);  // 10% jitter + step
    }
  }
  CHECK(firsts.size() > 10);
}

TEST_CASE("fall failures take an endpoint down, rise successes bring it back") {
  Driver d(2);
  d.run_until(kT0 + 3 * kNsPerSec);
  CHECK(d.table->available(0, d.now));
  d.answer[0] = 503;
  // two failed checks: still up (fall = 3)
  size_t before = d.starts[0].size();
  while (d.starts[0].size() < before + 2) d.run_until(d.now + 10 * kNsPerMs);
  d.run_until(d.now + 100 * kNsPerMs);
  CHECK(d.checker->status(0).failures == 2);
  CHECK(d.table->available(0, d.now));
  while (d.starts[0].size() < before + 3) d.run_until(d.now + 10 * kNsPerMs);
  d.run_until(d.now + 100 * kNsPerMs);
  CHECK_FALSE(d.table->available(0, d.now));
  CHECK(d.table->reason(0) == "status 503 not expected");
  CHECK_FALSE(d.checker->status(0).healthy);
  CHECK(d.table->available(1, d.now));
  // recovers after two good checks
  d.answer[0] = 204;
  before = d.starts[0].size();
  while (d.starts[0].size() < before + 1) d.run_until(d.now + 10 * kNsPerMs);
  d.run_until(d.now + 100 * kNsPerMs);
  CHECK_FALSE(d.table->available(0, d.now));
  while (d.starts[0].size() < before + 2) d.run_until(d.now + 10 * kNsPerMs);
  d.run_until(d.now + 100 * kNsPerMs);
  CHECK(d.table->available(0, d.now));
  CHECK(d.table->reason(0) == "status 204");
}

TEST_CASE("a check without an answer times out, is aborted and counts as a failure") {
  Driver d(1);
  d.answer[0] = 0;
  d.run_until(kT0 + 9 * kNsPerSec);
  CHECK(d.aborts >= 3);
  CHECK_FALSE(d.table->available(0, d.now));
  CHECK(d.table->reason(0) == "timeout after 1000ms");
  CHECK(d.checker->in_flight() <= 1);
}

TEST_CASE("stale and unknown result ids are ignored") {
  Driver d(1);
  d.answer[0] = 0;
  std::vector<CheckAction> out;
  TimeNs t = kT0;
  while (out.empty()) {
    t += 10 * kNsPerMs;
    d.checker->on_timer(t, out);
  }
  const uint64_t id = out[0].id;
  CHECK_FALSE(d.checker->on_result(id + (uint64_t{1} << 32), true, "ok", t));
  CHECK_FALSE(d.checker->on_result(id + 5, true, "ok", t));
  CHECK(d.checker->on_result(id, true, "ok", t));
  CHECK_FALSE(d.checker->on_result(id, true, "ok", t));  // already answered
}

TEST_CASE("start_healthy false: down until rise successes") {
  HealthCheckOptions o = http_opts();
  o.start_healthy = false;
  Driver d(1, o);
  CHECK_FALSE(d.table->available(0, kT0));
  CHECK(d.table->reason(0) == "not checked yet");
  d.run_until(kT0 + 5 * kNsPerSec);
  CHECK(d.table->available(0, d.now));
}

TEST_CASE("max_in_flight bounds concurrent checks") {
  HealthCheckOptions o = http_opts();
  o.max_in_flight = 2;
  o.interval = 100 * kNsPerMs;
  Driver d(10, o);
  d.delay = 50 * kNsPerMs;
  d.run_until(kT0 + 5 * kNsPerSec);
  CHECK(d.max_in_flight == 2);
  for (const auto& s : d.starts) CHECK(s.size() > 3);  // all still get checked
}

TEST_CASE("http check request bytes") {
  Driver d(1);
  std::string req;
  d.checker->build_http_request(0, req);
  CHECK(req ==
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nUser-Agent: portico-health-check\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n");
  HealthCheckOptions o = http_opts();
  o.method = "HEAD";
  o.host = "api.internal";
  Driver e(1, o);
  e.checker->build_http_request(0, req);
  CHECK(req.rfind("HEAD /healthz HTTP/1.1\r\nHost: api.internal\r\n", 0) == 0);
  CHECK(e.checker->status_expected(204));
  CHECK_FALSE(e.checker->status_expected(500));
}

TEST_CASE("invalid http check options are refused") {
  auto set = make_set(equal(1));
  auto table = std::make_shared<HealthTable>(1);
  SeededRandom rng(1);
  std::string err;
  HealthCheckOptions o = http_opts();
  o.path = "/x\r\nEvil: 1";
  CHECK_FALSE(HealthChecker::create(o, set, table, rng, kT0, &err));
  CHECK(err.find("path") != std::string::npos);
  o = http_opts();
  o.method = "GE T";
  CHECK_FALSE(HealthChecker::create(o, set, table, rng, kT0, &err));
  o = http_opts();
  o.host = "a b";
  CHECK_FALSE(HealthChecker::create(o, set, table, rng, kT0, &err));
  o = http_opts();
  CHECK_FALSE(HealthChecker::create(o, set, std::make_shared<HealthTable>(0), rng, kT0, &err));
}

TEST_CASE("tcp checks: connect success is healthy") {
  HealthCheckOptions o;
  o.type = HealthCheckOptions::Type::kTcp;
  o.fall = 1;
  auto set = make_set(equal(1));
  auto table = std::make_shared<HealthTable>(1);
  SeededRandom rng(3);
  std::string err;
  auto c = HealthChecker::create(o, set, table, rng, kT0, &err);
  REQUIRE(c);
  std::vector<CheckAction> out;
  c->on_timer(c->next_wakeup(), out);
  REQUIRE(out.size() == 1);
  CHECK(c->on_connect_result(out[0].id, false, "connection refused", c->next_wakeup()));
  CHECK_FALSE(table->available(0, kT0 + 10 * kNsPerSec));
  CHECK(table->reason(0) == "connection refused");
}

TEST_CASE("health check options from the config") {
  conf::HealthCheck h;
  h.type = conf::HealthCheck::Type::kHttp;
  h.path = "/ready";
  h.interval = std::chrono::seconds(2);
  h.rise = 4;
  auto o = HealthCheckOptions::from_conf(h);
  CHECK(o.type == HealthCheckOptions::Type::kHttp);
  CHECK(o.path == "/ready");
  CHECK(o.interval == 2 * kNsPerSec);
  CHECK(o.rise == 4);
  CHECK(o.expect == std::vector<int>{200});
}

TEST_CASE("jitter: a fixed duration or a percent, from the config") {
  conf::HealthCheck h;
  h.interval = std::chrono::seconds(2);
  h.jitter = {false, 0, std::chrono::milliseconds(50)};
  h.max_in_flight = 4;
  HealthCheckOptions o = HealthCheckOptions::from_conf(h);
  CHECK(o.jitter == 50 * kNsPerMs);
  CHECK(o.max_in_flight == 4);
  o.type = HealthCheckOptions::Type::kHttp;
  o.path = "/healthz";
  Driver d(10, o);
  d.run_until(kT0 + 20 * kNsPerSec);
  TimeNs longest = 0;
  for (const auto& s : d.starts) {
    REQUIRE(s.size() >= 8);
    for (size_t k = 1; k < s.size(); ++k) {
      TimeNs gap = s[k] - s[k - 1];
      CHECK(gap >= 2 * kNsPerSec);
      CHECK(gap <= 2 * kNsPerSec + 50 * kNsPerMs + 10 * kNsPerMs);  // 50 ms jitter + step
      longest = std::max(longest, gap);
    }
  }
  CHECK(longest > 2 * kNsPerSec + 10 * kNsPerMs);  // the jitter is used
  CHECK(d.max_in_flight <= 4);

  h.jitter = {true, 0, {}};  // 0%: every interval exact (to the 10 ms step)
  HealthCheckOptions z = HealthCheckOptions::from_conf(h);
  CHECK(z.jitter_percent == 0);
  CHECK(z.jitter < 0);
  z.type = HealthCheckOptions::Type::kHttp;
  Driver e(5, z);
  e.run_until(kT0 + 10 * kNsPerSec);
  for (const auto& s : e.starts)
    for (size_t k = 1; k < s.size(); ++k) CHECK(s[k] - s[k - 1] <= 2 * kNsPerSec + 10 * kNsPerMs);
}
