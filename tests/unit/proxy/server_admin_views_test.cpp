#include <doctest/doctest.h>

#include <string>

#include "conf/loader.hpp"
#include "proxy/server/admin_views.hpp"

using namespace portico;

namespace {

constexpr const char* kYaml = R"(
admin: { bind: "127.0.0.1:9901", token: "very-secret" }
listeners:
  - name: web
    bind: "127.0.0.1:8080"
    protocol: http
    routes:
      - { name: api, match: { path_prefix: "/api/" }, cluster: app }
      - { match: { path_prefix: "/" }, respond: { status: 200, body: "a \"quoted\"\nline" } }
clusters:
  - name: app
    endpoints: [ "127.0.0.1:9000" ]
    tls: { ca: "/etc/ca.pem", cert: "/etc/c.pem", key: "/etc/private.key" }
)";

std::shared_ptr<const conf::Config> load() {
  conf::LoadOptions opts;
  opts.check_supported = false;
  auto r = conf::load_config_string(kYaml, "t.yaml", conf::process_env(), opts);
  REQUIRE(r.ok());
  return r.config;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("metrics sum the workers' slots and render histograms cumulatively") {
  server::AdminShared s;
  s.set_config(load(), true, "");
  l4::WorkerStats w0, w1;
  s.workers = {&w0, &w1};
  w0.listener("web")->accepted.add(3);
  w1.listener("web")->accepted.add(4);
  w0.route("web", "api")->record(200, 700);      // 0.7 ms: first bucket
  w1.route("web", "api")->record(503, 30000);    // 30 ms: the 50 ms bucket
  w1.route("web", "api")->record(204, 20000000); // 20 s: +Inf only
  w0.route("web", "1")->record(404, 1);
  w0.endpoint("app", "127.0.0.1:9000")->connect_failures.add(2);
  w0.listener("gone")->accepted.add(9);  // not in the running config: not shown
  std::string m = server::render_metrics(s);
  CHECK(has_line(m, "portico_listener_connections_accepted_total{listener=\"web\"} 7"));
  CHECK(m.find("gone") == std::string::npos);
  CHECK(has_line(m, "portico_http_requests_total{listener=\"web\",route=\"api\",class=\"2xx\"} 2"));
  CHECK(has_line(m, "portico_http_requests_total{listener=\"web\",route=\"api\",class=\"5xx\"} 1"));
  CHECK(has_line(m, "portico_http_requests_total{listener=\"web\",route=\"1\",class=\"4xx\"} 1"));
  CHECK(has_line(m, "portico_http_requests_total{listener=\"web\",route=\"_unmatched\",class=\"4xx\"} 0"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_bucket{listener=\"web\",route=\"api\",le=\"0.001\"} 1"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_bucket{listener=\"web\",route=\"api\",le=\"0.025\"} 1"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_bucket{listener=\"web\",route=\"api\",le=\"0.05\"} 2"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_bucket{listener=\"web\",route=\"api\",le=\"10\"} 2"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_bucket{listener=\"web\",route=\"api\",le=\"+Inf\"} 3"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_count{listener=\"web\",route=\"api\"} 3"));
  CHECK(has_line(m, "portico_http_request_duration_seconds_sum{listener=\"web\",route=\"api\"} 20.0307"));
  CHECK(has_line(m, "portico_upstream_connect_failures_total{cluster=\"app\",endpoint=\"127.0.0.1:9000\"} 2"));
  CHECK(has_line(m, "# TYPE portico_http_request_duration_seconds histogram"));
  CHECK(m.find("portico_dns_") == std::string::npos);  // no dns: section
}

TEST_CASE("config view redacts secrets and escapes strings") {
  std::string j = server::render_config(*load());
  CHECK(j.find("very-secret") == std::string::npos);
  CHECK(j.find("private.key") == std::string::npos);
  CHECK(j.find("\"token\":\"<redacted>\"") != std::string::npos);
  CHECK(j.find("\"key\":\"<redacted>\"") != std::string::npos);
  CHECK(j.find("\"cert\":\"/etc/c.pem\"") != std::string::npos);
  CHECK(j.find(R"("body":"a \"quoted\"\u000aline")") != std::string::npos);
  CHECK(j.find("\"name\":\"api\"") != std::string::npos);
}

TEST_CASE("escaping helpers") {
  CHECK(server::prom_label_escape("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  CHECK(server::json_escape(std::string("x\0y\x7f", 4)) == "\"x\\u0000y\\u007f\"");
}

TEST_CASE("single-writer counters add, subtract and read back") {
  l4::Counter c;
  c.add(5);
  c.sub(2);
  CHECK(c.get() == 3);
  l4::WorkerStats w;
  CHECK(w.listener("a") == w.listener("a"));  // one slot per name, stable
  CHECK(w.route("a", "0") != w.route("b", "0"));
  CHECK(alignof(l4::RouteStats) == 64);
}
