// Cluster tuning keys (retry budget, health-check jitter and concurrency,
// outlier max_ejection, slow start, ring_hash / maglev / least_request knobs,
// DNS discovery timings and nameserver, discovery max_endpoints): defaults,
// a good value of each, and the exact file:line:col error of a bad one.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "conf/loader.hpp"
#include "error_lines.hpp"

using namespace portico::conf;
using namespace std::chrono_literals;

namespace {

using Lines = std::vector<std::string>;

// One cluster "c" with static endpoints; `extra` adds keys at its indent
// (4 spaces), starting on line 4 of the file.
std::string with(const std::string& extra) {
  return "clusters:\n  - name: c\n    endpoints: [\"127.0.0.1:1\"]\n" + extra;
}
// One discovery cluster: the discovery mapping is `disc`, on line 3 of the file
// at column 16 ("    discovery: " is 15 characters).
std::string disc(const std::string& d) { return "clusters:\n  - name: c\n    discovery: " + d + "\n"; }

LoadResult load(const std::string& yaml) {
  EnvLookup none = [](std::string_view, std::string&) { return false; };
  return load_config_string(yaml, "e.yaml", none, LoadOptions{false});
}

Lines errors_of(const std::string& yaml) {
  LoadResult r = load(yaml);
  Lines out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

// A copy: callers bind it to `const Cluster&` straight from load(), whose result
// is a temporary (a reference into it would dangle).
Cluster only_cluster(const LoadResult& r) {
  REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? std::string() : r.errors[0].str()));
  REQUIRE(r.config->clusters.size() == 1);
  return r.config->clusters[0];
}

}  // namespace

TEST_CASE("cluster tuning keys default to the built-in behaviour") {
  LoadResult r = load(with("    health_check: {}\n    outlier: {}\n"));
  const Cluster& c = only_cluster(r);
  CHECK(c.retry_budget.percent == 20);
  CHECK(c.retry_budget.min_concurrent == 3);
  CHECK(c.health_check->jitter.is_percent);
  CHECK(c.health_check->jitter.percent == 10);
  CHECK(c.health_check->max_in_flight == 256);
  CHECK_FALSE(c.outlier->max_ejection);  // max(300s, base_ejection)
  CHECK(c.slow_start == 0s);
  CHECK(c.slow_start_min_percent == 10);
  CHECK(c.ring_hash.points_per_weight == 160);
  CHECK(c.ring_hash.max_points == 1u << 21);
  CHECK(c.maglev_table_size == 65537);
  CHECK(c.least_request.ewma_alpha_percent == 30);
  CHECK(c.least_request.ewma_stale == 10s);
  CHECK(c.least_request.failure_latency == 100ms);
  const Discovery& d = c.discovery;
  CHECK(d.max_endpoints == 1024);
  CHECK_FALSE(d.nameserver);
  CHECK(d.timeout == 2s);
  CHECK(d.min_refresh == 1s);
  CHECK(d.max_refresh == 5min);
  CHECK(d.empty_refresh == 5s);
  CHECK(d.retry_backoff == 1s);
  CHECK(d.max_retry_backoff == 30s);
  CHECK(d.max_targets == 64);
}

TEST_CASE("retry_budget: percent and min_concurrent") {
  const Cluster& c = only_cluster(load(with("    retry_budget: { percent: 50, min_concurrent: 0 }\n")));
  CHECK(c.retry_budget.percent == 50);
  CHECK(c.retry_budget.min_concurrent == 0);
  CHECK(errors_of(with("    retry_budget: { percent: 101, min_concurrent: -1, burst: 2 }\n")) ==
        Lines{"e.yaml:4:30: clusters[0].retry_budget.percent: must be between 0 and 100, got 101",
              "e.yaml:4:51: clusters[0].retry_budget.min_concurrent: expected an integer, got '-1'",
              "e.yaml:4:55: clusters[0].retry_budget: unknown key 'burst' in retry_budget"});
  CHECK(errors_of(with("    retry_budget: { percent: 101, min_concurrent: -1 }\n")) ==
        Lines{"e.yaml:4:30: clusters[0].retry_budget.percent: must be between 0 and 100, got 101",
              "e.yaml:4:51: clusters[0].retry_budget.min_concurrent: expected an integer, got '-1'"});
}

TEST_CASE("health_check: jitter as a percent or a duration, max_in_flight") {
  const Cluster& a = only_cluster(load(with("    health_check: { interval: 2s, jitter: 25%, max_in_flight: 8 }\n")));
  CHECK(a.health_check->jitter.is_percent);
  CHECK(a.health_check->jitter.percent == 25);
  CHECK(a.health_check->max_in_flight == 8);
  const Cluster& b = only_cluster(load(with("    health_check: { interval: 2s, jitter: 300ms }\n")));
  CHECK_FALSE(b.health_check->jitter.is_percent);
  CHECK(b.health_check->jitter.duration == 300ms);
  const Cluster& z = only_cluster(load(with("    health_check: { jitter: 0% }\n")));
  CHECK(z.health_check->jitter.percent == 0);

  CHECK(errors_of(with("    health_check: { jitter: 150% }\n")) ==
        Lines{"e.yaml:4:29: clusters[0].health_check.jitter: expected a percent 0%..100% or a "
              "duration, got '150%'"});
  CHECK(errors_of(with("    health_check: { interval: 1s, jitter: 2s }\n")) ==
        Lines{"e.yaml:4:43: clusters[0].health_check.jitter: must not exceed interval (1s)"});
  CHECK(errors_of(with("    health_check: { jitter: lots }\n")) ==
        Lines{"e.yaml:4:29: clusters[0].health_check.jitter: expected a duration like 10s, got 'lots'"});
  CHECK(errors_of(with("    health_check: { max_in_flight: 0 }\n")) ==
        Lines{"e.yaml:4:36: clusters[0].health_check.max_in_flight: must be between 1 and 65536, got 0"});
}

TEST_CASE("outlier.max_ejection: at least base_ejection") {
  const Cluster& c = only_cluster(load(with("    outlier: { base_ejection: 10s, max_ejection: 1m }\n")));
  REQUIRE(c.outlier->max_ejection);
  CHECK(*c.outlier->max_ejection == 1min);
  CHECK(errors_of(with("    outlier: { base_ejection: 10s, max_ejection: 5s }\n")) ==
        Lines{"e.yaml:4:50: clusters[0].outlier.max_ejection: must not be less than base_ejection (10s)"});
  CHECK(errors_of(with("    outlier: { max_ejection: 2d }\n")) ==
        Lines{"e.yaml:4:30: clusters[0].outlier.max_ejection: must be between 1ms and 1d, got 2d"});
}

TEST_CASE("slow_start: a window, or { window, min_percent }") {
  const Cluster& a = only_cluster(load(with("    slow_start: 30s\n")));
  CHECK(a.slow_start == 30s);
  CHECK(a.slow_start_min_percent == 10);
  const Cluster& b = only_cluster(load(with("    slow_start: { window: 1m, min_percent: 50 }\n")));
  CHECK(b.slow_start == 1min);
  CHECK(b.slow_start_min_percent == 50);
  CHECK(errors_of(with("    slow_start: { window: 1m, min_percent: 0 }\n")) ==
        Lines{"e.yaml:4:44: clusters[0].slow_start.min_percent: must be between 1 and 100, got 0"});
  CHECK(errors_of(with("    slow_start: 2d\n")) ==
        Lines{"e.yaml:4:17: clusters[0].slow_start: must be between 0s and 1d, got 2d"});
}

TEST_CASE("ring_hash, maglev and least_request knobs") {
  const Cluster& c = only_cluster(load(with(
      "    ring_hash: { points_per_weight: 10, max_points: 4096 }\n"
      "    maglev: { table_size: 7 }\n"
      "    least_request: { ewma_alpha_percent: 100, ewma_stale: 1m, failure_latency: 0s }\n")));
  CHECK(c.ring_hash.points_per_weight == 10);
  CHECK(c.ring_hash.max_points == 4096);
  CHECK(c.maglev_table_size == 7);
  CHECK(c.least_request.ewma_alpha_percent == 100);
  CHECK(c.least_request.ewma_stale == 1min);
  CHECK(c.least_request.failure_latency == 0s);
  CHECK(errors_of(with("    ring_hash: { points_per_weight: 0, max_points: 100 }\n"
                       "    maglev: { table_size: 20000000 }\n"
                       "    least_request: { ewma_alpha_percent: 0, ewma_stale: 0s, failure_latency: 2m }\n")) ==
        Lines{"e.yaml:4:37: clusters[0].ring_hash.points_per_weight: must be between 1 and 10000, got 0",
              "e.yaml:4:52: clusters[0].ring_hash.max_points: must be between 1024 and 16777216, got 100",
              "e.yaml:5:27: clusters[0].maglev.table_size: must be between 7 and 16777216, got 20000000",
              "e.yaml:6:42: clusters[0].least_request.ewma_alpha_percent: must be between 1 and 100, got 0",
              "e.yaml:6:57: clusters[0].least_request.ewma_stale: must be between 1ms and 1d, got 0s",
              "e.yaml:6:78: clusters[0].least_request.failure_latency: must be between 0s and 1m, got 2m"});
}

TEST_CASE("dns discovery: nameserver, timeout, refresh bounds, retry backoff, limits") {
  const Cluster& c = only_cluster(load(disc(
      "{ dns: \"svc.test:80\", nameserver: \"127.0.0.1:5353\", timeout: 500ms, min_refresh: 200ms, "
      "max_refresh: 1h, empty_refresh: 2s, retry_backoff: 250ms, max_retry_backoff: 4s, max_endpoints: 8 }")));
  const Discovery& d = c.discovery;
  REQUIRE(d.nameserver);
  CHECK(d.nameserver->str() == "127.0.0.1:5353");
  CHECK(d.timeout == 500ms);
  CHECK(d.min_refresh == 200ms);
  CHECK(d.max_refresh == 1h);
  CHECK(d.empty_refresh == 2s);
  CHECK(d.retry_backoff == 250ms);
  CHECK(d.max_retry_backoff == 4s);
  CHECK(d.max_endpoints == 8);
  const Cluster& s = only_cluster(load(disc("{ dns_srv: _http._tcp.svc.test, nameserver: \"::1\", max_targets: 3 }")));
  CHECK(s.discovery.max_targets == 3);
  CHECK(s.discovery.nameserver->str() == "[::1]:53");

  CHECK(errors_of(disc("{ dns: \"svc.test:80\", nameserver: ns1.test, timeout: 5ms }")) ==
        Lines{"e.yaml:3:50: clusters[0].discovery.nameserver: bad address 'ns1.test': 'ns1.test' is not "
              "an IP address (host names are not resolved here)",
              "e.yaml:3:69: clusters[0].discovery.timeout: must be between 10ms and 1m, got 5ms"});
  CHECK(errors_of(disc("{ dns: \"svc.test:80\", min_refresh: 10s, max_refresh: 5s }")) ==
        Lines{"e.yaml:3:69: clusters[0].discovery.max_refresh: must not be less than min_refresh (10s)"});
  CHECK(errors_of(disc("{ dns: \"svc.test:80\", min_refresh: 10m }")) ==
        Lines{"e.yaml:3:51: clusters[0].discovery.min_refresh: must not exceed max_refresh (5m)"});
  CHECK(errors_of(disc("{ dns: \"svc.test:80\", retry_backoff: 1m }")) ==
        Lines{"e.yaml:3:53: clusters[0].discovery.retry_backoff: must not exceed max_retry_backoff (30s)"});
  CHECK(errors_of(disc("{ dns: \"svc.test:80\", empty_refresh: 0s, max_endpoints: 0 }")) ==
        Lines{"e.yaml:3:53: clusters[0].discovery.empty_refresh: must be between 100ms and 1d, got 0s",
              "e.yaml:3:72: clusters[0].discovery.max_endpoints: must be between 1 and 65536, got 0"});
  CHECK(errors_of(disc("{ dns: \"svc.test:80\", max_targets: 4 }")) ==
        Lines{"e.yaml:3:38: clusters[0].discovery.max_targets: only for dns_srv discovery"});
}

TEST_CASE("mdns discovery takes max_endpoints but no DNS timings") {
  const std::string browse = "mdns: { browse: [_http._tcp] }\n";
  const Cluster& c = only_cluster(load(browse + disc("{ mdns: _http._tcp, max_endpoints: 16 }")));
  CHECK(c.discovery.max_endpoints == 16);
  CHECK(errors_of(browse + disc("{ mdns: _http._tcp, timeout: 1s }")) ==
        Lines{"e.yaml:4:36: clusters[0].discovery.timeout: only for dns and dns_srv discovery"});
}

TEST_CASE("health_check request parts are refused at load when the checker could not send them") {
  const Cluster& c = only_cluster(load(with("    health_check: { type: http, method: OPTIONS, path: \"/ready?x=1\", host: api.test }\n")));
  CHECK(c.health_check->path == "/ready?x=1");
  CHECK(errors_of(with("    health_check: { type: http, path: \"/a b\", host: \"a b\" }\n")) ==
        Lines{"e.yaml:4:39: clusters[0].health_check.path: at most 2048 bytes, no spaces or control characters",
              "e.yaml:4:53: clusters[0].health_check.host: 1..255 bytes, no spaces or control characters"});
  CHECK(errors_of(with("    health_check: { method: " + std::string(33, 'G') + " }\n")) ==
        Lines{"e.yaml:4:29: clusters[0].health_check.method: '" + std::string(33, 'G') +
              "' is not a valid method name (at most 32)"});
}
