// load_config_*: a full valid config, defaults, env substitution,
// check_supported and file reading. Error messages are in errors_test.cpp.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <map>

#include "conf/loader.hpp"

using namespace portico::conf;
using namespace std::chrono_literals;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name, std::string& value) {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return false;
    value = it->second;
    return true;
  };
}

const LoadOptions kAllFeatures{false};

std::string all_errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.str() + "\n";
  return s;
}

// The shape of /work/shared/config-sketch.yaml, with every optional key set.
constexpr const char* kFull = R"(
workers: 4
event_loop: epoll
user: nobody
drain_timeout: 45s
log:
  level: debug
  access:
    path: /var/log/portico/access.log
    format: combined
admin:
  bind: "[::1]:9902"
  token: s3cret
listeners:
  - name: web
    bind: "127.0.0.1:8080"
    protocol: http
    tls:
      certificates:
        - { cert: "conf/certs/example.pem", key: "conf/certs/example.key" }
        - { cert: "b.pem", key: "b.key", ocsp: "b.ocsp" }
      min_version: "1.3"
      alpn: ["http/1.1"]
      session_tickets: false
      ticket_rotation: 6h
      client_ca: ca.pem
      client_auth: optional
      client_subject_header: X-Subject
    proxy_protocol_from: ["10.0.0.0/8", "::1/128"]
    timeouts: { header: 5s, idle: 2m, handshake: 3s }
    limits: { max_connections: 500, request_line: 4KiB, header_bytes: 16KiB, headers: 50, body: 1MiB }
    routes:
      - match: { host: "API.example.test", path_prefix: "/v1/", method: [GET, HEAD], headers: { X-Env: prod } }
        cluster: api
        rewrite: { path_prefix: "/", host: "backend.internal" }
        request_headers: { add: { X-Env: prod, X-B: "2" }, remove: [X-Debug] }
        response_headers: { add: { Strict-Transport-Security: "max-age=63072000" } }
        timeout: 30s
        retries: { attempts: 2, on: [connect_failure, reset, "503"], per_try_timeout: 250ms }
      - match: { path: "/exact", method: POST }
        respond: { status: 204 }
      - match: { path_regex: "^/old/(.*)$" }
        redirect: { status: 308, location: "https://{host}{path}" }
      - match: { path_prefix: "/" }
        static: { root: "docs/site", index: index.html }
  - name: db
    bind: "0.0.0.0:5432"
    protocol: tcp
    cluster: postgres
    timeouts: { connect: 2s, idle: 1h }
    limits: { buffer: 128KiB }
  - name: dns-relay
    bind: "127.0.0.1:5353"
    protocol: udp
    cluster: api
    limits: { udp_sessions: 42 }
clusters:
  - name: api
    endpoints:
      - { address: "127.0.0.1:9000", weight: 1 }
      - { address: "127.0.0.1:9001", weight: 2, priority: 1 }
      - "[::1]:9002"
    lb: ring_hash
    hash_key: { header: X-User }
    connect_timeout: 2s
    response_timeout: 20s
    pool: { max_idle: 8, idle_timeout: 30s }
    health_check: { type: http, method: HEAD, path: /healthz, host: h.test, expect: [200, 204], interval: 2s, timeout: 1s, rise: 3, fall: 4 }
    outlier: { consecutive_failures: 7, base_ejection: 10s, max_ejection_percent: 20 }
    tls: { ca: ca.pem, sni: api.internal, cert: c.pem, key: c.key, verify: false }
    proxy_protocol: v2
    max_connections: 100
    max_pending: 10
    panic: true
  - name: postgres
    endpoints: [ { address: "unix:/run/postgresql/.s.PGSQL.5432" } ]
    proxy_protocol: off
  - name: found
    discovery: { dns_srv: "_http._tcp.api.internal" }
    hash_key: { cookie: sid }
dns:
  listen: ["127.0.0.1:8053", "[::1]:8053"]
  upstreams: ["192.0.2.1", "[2001:db8::1]:5353"]
  cache: { max_entries: 500, min_ttl: 5s, max_ttl: 1d, negative_ttl: 1h, serve_stale: 0s, prefetch: false }
  zones: [ { name: "example.test", file: "conf/zones/example.test.zone" } ]
  records: [ "www.example.test. 300 IN A 127.0.0.1" ]
  allow: ["10.0.0.0/8"]
  upstream_timeout: 800ms
  tcp_idle: 20s
  udp_batch: 8
mdns:
  interfaces: [eth0, wlan0]
  hostname: edge-1
  services:
    - { name: "Portico web", type: "_http._tcp", subtypes: [_printer], port: 8080, txt: { path: "/", v: "1" }, priority: 5, weight: 6 }
  advertise_listeners: true
  browse: ["_http._tcp"]
  signing: { key: k.pem, trusted_keys: [a.pem, b.pem] }
  ipv4: true
  ipv6: false
runtime: { buffer_size: 32KiB, buffers: 1024, ring_entries: 256, batch_wait: 50us, batch_wait_events: 8 }
)";

}  // namespace

TEST_CASE("a full config loads every key with the right values") {
  auto r = load_config_string(kFull, "full.yaml", env_of({}), kAllFeatures);
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK(c.file == "full.yaml");
  CHECK(c.workers == 4);
  CHECK(c.event_loop == EventLoop::kEpoll);
  CHECK(c.user == "nobody");
  CHECK(c.user_mark.line == 4);
  CHECK(c.drain_timeout == 45s);
  CHECK(c.log.level == LogLevel::kDebug);
  CHECK(c.log.access.path == "/var/log/portico/access.log");
  CHECK(c.log.access.format == AccessFormat::kCombined);
  REQUIRE(c.admin.bind);
  CHECK(c.admin.bind->str() == "[::1]:9902");
  CHECK(c.admin.token == "s3cret");

  REQUIRE(c.listeners.size() == 3);
  const Listener& web = c.listeners[0];
  CHECK(web.name == "web");
  CHECK(web.mark.line == 15);
  CHECK(web.mark.column == 5);
  CHECK(web.bind.str() == "127.0.0.1:8080");
  CHECK(web.protocol == Protocol::kHttp);
  REQUIRE(web.tls);
  REQUIRE(web.tls->certificates.size() == 2);
  CHECK(web.tls->certificates[0].cert == "conf/certs/example.pem");
  CHECK(web.tls->certificates[0].key == "conf/certs/example.key");
  CHECK_FALSE(web.tls->certificates[0].ocsp);
  CHECK(web.tls->certificates[1].ocsp == "b.ocsp");
  CHECK(web.tls->min_version == "1.3");
  CHECK(web.tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(web.tls->session_tickets == false);
  CHECK(web.tls->ticket_rotation == 6h);
  CHECK(web.tls->client_ca == "ca.pem");
  CHECK(web.tls->client_auth == ClientAuth::kOptional);
  CHECK(web.tls->client_subject_header == "X-Subject");
  REQUIRE(web.proxy_protocol_from.size() == 2);
  CHECK(web.proxy_protocol_from[0].str() == "10.0.0.0/8");
  CHECK(web.proxy_protocol_from[1].str() == "::1/128");
  CHECK(web.timeouts.header == 5s);
  CHECK(web.timeouts.idle == 2min);
  CHECK(web.timeouts.handshake == 3s);
  CHECK(web.timeouts.connect == 5s);  // default kept
  CHECK(web.limits.max_connections == 500);
  CHECK(web.limits.request_line == 4096);
  CHECK(web.limits.header_bytes == 16384);
  CHECK(web.limits.headers == 50);
  CHECK(web.limits.body == 1024 * 1024);
  CHECK_FALSE(web.cluster);

  REQUIRE(web.routes.size() == 4);
  const Route& r0 = web.routes[0];
  CHECK(r0.mark.line == 33);
  CHECK(r0.mark.column == 9);
  CHECK(r0.match.host == "api.example.test");  // lower-cased
  CHECK(r0.match.path_prefix == "/v1/");
  CHECK(r0.match.methods == std::vector<std::string>{"GET", "HEAD"});
  REQUIRE(r0.match.headers.size() == 1);
  CHECK(r0.match.headers[0].name == "X-Env");
  CHECK(r0.match.headers[0].value == "prod");
  CHECK(r0.cluster == "api");
  CHECK(r0.rewrite_path_prefix == "/");
  CHECK(r0.rewrite_host == "backend.internal");
  REQUIRE(r0.request_headers.add.size() == 2);
  CHECK(r0.request_headers.add[0] == std::pair<std::string, std::string>{"X-Env", "prod"});
  CHECK(r0.request_headers.add[1] == std::pair<std::string, std::string>{"X-B", "2"});
  CHECK(r0.request_headers.remove == std::vector<std::string>{"X-Debug"});
  REQUIRE(r0.response_headers.add.size() == 1);
  CHECK(r0.response_headers.add[0].second == "max-age=63072000");
  CHECK(r0.timeout == 30s);
  CHECK(r0.retries.attempts == 2);
  CHECK(r0.retries.on == std::vector<std::string>{"connect_failure", "reset", "503"});
  CHECK(r0.retries.per_try_timeout == 250ms);
  CHECK_FALSE(r0.static_files);
  CHECK_FALSE(r0.redirect);
  CHECK_FALSE(r0.respond);

  const Route& r1 = web.routes[1];
  CHECK(r1.match.path == "/exact");
  CHECK(r1.match.methods == std::vector<std::string>{"POST"});
  REQUIRE(r1.respond);
  CHECK(r1.respond->status == 204);
  CHECK(r1.respond->body.empty());
  CHECK_FALSE(r1.cluster);
  const Route& r2 = web.routes[2];
  CHECK(r2.match.path_regex == "^/old/(.*)$");
  REQUIRE(r2.redirect);
  CHECK(r2.redirect->status == 308);
  CHECK(r2.redirect->location == "https://{host}{path}");
  const Route& r3 = web.routes[3];
  REQUIRE(r3.static_files);
  CHECK(r3.static_files->root == "docs/site");
  CHECK(r3.static_files->index == "index.html");
  CHECK_FALSE(r3.timeout);

  const Listener& db = c.listeners[1];
  CHECK(db.protocol == Protocol::kTcp);
  CHECK(db.cluster == "postgres");
  CHECK(db.timeouts.connect == 2s);
  CHECK(db.timeouts.idle == 1h);
  CHECK(db.limits.buffer == 128 * 1024);
  CHECK(db.routes.empty());
  const Listener& udp = c.listeners[2];
  CHECK(udp.protocol == Protocol::kUdp);
  CHECK(udp.limits.udp_sessions == 42);

  REQUIRE(c.clusters.size() == 3);
  const Cluster& api = c.clusters[0];
  CHECK(c.find_cluster("api") == &api);
  CHECK(api.mark.line == 58);
  REQUIRE(api.endpoints.size() == 3);
  CHECK(api.endpoints[0].address.str() == "127.0.0.1:9000");
  CHECK(api.endpoints[0].weight == 1);
  CHECK(api.endpoints[1].weight == 2);
  CHECK(api.endpoints[1].priority == 1);
  CHECK(api.endpoints[2].address.str() == "[::1]:9002");
  CHECK(api.endpoints[2].weight == 1);
  CHECK(api.endpoints[2].priority == 0);
  CHECK(api.discovery.kind == Discovery::Kind::kNone);
  CHECK(api.lb == LbPolicy::kRingHash);
  CHECK(api.hash_key.kind == HashKey::Kind::kHeader);
  CHECK(api.hash_key.name == "X-User");
  CHECK(api.connect_timeout == 2s);
  CHECK(api.response_timeout == 20s);
  CHECK(api.pool.max_idle == 8);
  CHECK(api.pool.idle_timeout == 30s);
  REQUIRE(api.health_check);
  CHECK(api.health_check->type == HealthCheck::Type::kHttp);
  CHECK(api.health_check->method == "HEAD");
  CHECK(api.health_check->path == "/healthz");
  CHECK(api.health_check->host == "h.test");
  CHECK(api.health_check->expect == std::vector<int>{200, 204});
  CHECK(api.health_check->interval == 2s);
  CHECK(api.health_check->timeout == 1s);
  CHECK(api.health_check->rise == 3);
  CHECK(api.health_check->fall == 4);
  REQUIRE(api.outlier);
  CHECK(api.outlier->consecutive_failures == 7);
  CHECK(api.outlier->base_ejection == 10s);
  CHECK(api.outlier->max_ejection_percent == 20);
  REQUIRE(api.tls);
  CHECK(api.tls->ca == "ca.pem");
  CHECK(api.tls->sni == "api.internal");
  CHECK(api.tls->cert == "c.pem");
  CHECK(api.tls->key == "c.key");
  CHECK(api.tls->verify == false);
  CHECK(api.proxy_protocol == ProxyProtocol::kV2);
  CHECK(api.max_connections == 100);
  CHECK(api.max_pending == 10);
  CHECK(api.panic == true);
  const Cluster& pg = c.clusters[1];
  REQUIRE(pg.endpoints.size() == 1);
  CHECK(pg.endpoints[0].address.unix_path() == "/run/postgresql/.s.PGSQL.5432");
  CHECK(pg.proxy_protocol == ProxyProtocol::kOff);  // bare `off`
  const Cluster& found = c.clusters[2];
  CHECK(found.endpoints.empty());
  CHECK(found.discovery.kind == Discovery::Kind::kDnsSrv);
  CHECK(found.discovery.name == "_http._tcp.api.internal");
  CHECK(found.hash_key.kind == HashKey::Kind::kCookie);
  CHECK(found.hash_key.name == "sid");

  REQUIRE(c.dns);
  const Dns& d = *c.dns;
  CHECK(d.mark.line == 81);
  CHECK(d.mark.column == 1);
  REQUIRE(d.listen.size() == 2);
  CHECK(d.listen[1].str() == "[::1]:8053");
  REQUIRE(d.upstreams.size() == 2);
  CHECK(d.upstreams[0].str() == "192.0.2.1:53");
  CHECK(d.upstreams[1].str() == "[2001:db8::1]:5353");
  CHECK(d.cache.max_entries == 500);
  CHECK(d.cache.min_ttl == 5s);
  CHECK(d.cache.max_ttl == 24h);
  CHECK(d.cache.negative_ttl == 1h);
  CHECK(d.cache.serve_stale == Duration::zero());
  CHECK(d.cache.prefetch == false);
  REQUIRE(d.zones.size() == 1);
  CHECK(d.zones[0].name == "example.test");
  CHECK(d.zones[0].file == "conf/zones/example.test.zone");
  CHECK(d.records == std::vector<std::string>{"www.example.test. 300 IN A 127.0.0.1"});
  REQUIRE(d.allow.size() == 1);
  CHECK(d.allow[0].str() == "10.0.0.0/8");
  CHECK(d.upstream_timeout == 800ms);
  CHECK(d.tcp_idle == 20s);
  CHECK(d.udp_batch == 8);

  REQUIRE(c.mdns);
  const Mdns& m = *c.mdns;
  CHECK(m.interfaces == std::vector<std::string>{"eth0", "wlan0"});
  CHECK(m.hostname == "edge-1");
  REQUIRE(m.services.size() == 1);
  CHECK(m.services[0].name == "Portico web");
  CHECK(m.services[0].type == "_http._tcp");
  CHECK(m.services[0].subtypes == std::vector<std::string>{"_printer"});
  CHECK(m.services[0].port == 8080);
  REQUIRE(m.services[0].txt.size() == 2);
  CHECK(m.services[0].txt[0] == std::pair<std::string, std::string>{"path", "/"});
  CHECK(m.services[0].priority == 5);
  CHECK(m.services[0].weight == 6);
  CHECK(m.advertise_listeners);
  CHECK(m.browse == std::vector<std::string>{"_http._tcp"});
  REQUIRE(m.signing);
  CHECK(m.signing->key == "k.pem");
  CHECK(m.signing->trusted_keys == std::vector<std::string>{"a.pem", "b.pem"});
  CHECK(m.ipv4);
  CHECK_FALSE(m.ipv6);

  CHECK(c.runtime.buffer_size == 32 * 1024);
  CHECK(c.runtime.buffers == 1024);
  CHECK(c.runtime.ring_entries == 256);
  CHECK(c.runtime.batch_wait == std::chrono::microseconds(50));
  CHECK(c.runtime.batch_wait_events == 8);
}

TEST_CASE("defer_accept defaults: on for http and TLS, off for plain tcp and udp") {
  Listener l;
  l.bind = *parse_address("127.0.0.1:1");
  l.protocol = Protocol::kHttp;
  CHECK(l.defers_accept());
  l.protocol = Protocol::kTcp;
  CHECK_FALSE(l.defers_accept());
  l.tls = ListenerTls{};
  CHECK(l.defers_accept());
  l.defer_accept = false;
  CHECK_FALSE(l.defers_accept());
  l.protocol = Protocol::kUdp;
  l.defer_accept = true;
  CHECK_FALSE(l.defers_accept());
}

TEST_CASE("splice defaults: on for plain tcp only") {
  Listener l;
  l.bind = *parse_address("127.0.0.1:1");
  CHECK(l.splices());
  l.splice = false;
  CHECK_FALSE(l.splices());
  l.splice = std::nullopt;
  l.tls = ListenerTls{};
  CHECK_FALSE(l.splices());
  l.tls = std::nullopt;
  l.protocol = Protocol::kHttp;
  CHECK_FALSE(l.splices());
  l.protocol = Protocol::kUdp;
  CHECK_FALSE(l.splices());
}

TEST_CASE("absent keys take their defaults") {
  auto r = load_config_string(R"(
listeners:
  - { name: a, bind: "127.0.0.1:7000", cluster: c }
clusters:
  - { name: c, endpoints: ["127.0.0.1:7001"] }
)", "d.yaml", env_of({}));
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK(c.workers == 0);
  CHECK(c.event_loop == EventLoop::kAuto);
  CHECK_FALSE(c.user);
  CHECK(c.drain_timeout == 30s);
  CHECK(c.log.level == LogLevel::kInfo);
  CHECK(c.log.access.path == "stderr");
  CHECK(c.log.access.format == AccessFormat::kJson);
  REQUIRE(c.admin.bind);
  CHECK(c.admin.bind->str() == "127.0.0.1:9901");
  CHECK_FALSE(c.admin.token);
  CHECK_FALSE(c.dns);
  CHECK_FALSE(c.mdns);
  CHECK(c.runtime.buffer_size == 64 * 1024);
  CHECK(c.runtime.buffers == 256);
  CHECK(c.runtime.ring_entries == 4096);
  const Listener& l = c.listeners.at(0);
  CHECK(l.protocol == Protocol::kTcp);
  CHECK_FALSE(l.tls);
  CHECK(l.timeouts.idle == 60s);
  CHECK(l.timeouts.connect == 5s);
  CHECK(l.limits.max_connections == 10000);
  CHECK(l.limits.buffer == 64 * 1024);
  const Cluster& cl = c.clusters.at(0);
  CHECK(cl.lb == LbPolicy::kRoundRobin);
  CHECK(cl.hash_key.kind == HashKey::Kind::kClientIp);
  CHECK(cl.connect_timeout == 5s);
  CHECK(cl.response_timeout == 60s);
  CHECK(cl.pool.max_idle == 64);
  CHECK_FALSE(cl.health_check);
  CHECK_FALSE(cl.outlier);
  CHECK_FALSE(cl.tls);
  CHECK(cl.proxy_protocol == ProxyProtocol::kOff);
  CHECK(cl.max_connections == 0);
  CHECK_FALSE(cl.panic);
}

TEST_CASE("nested defaults: routes, health checks, dns allow, mdns") {
  auto r = load_config_string(R"(
admin: { bind: null }
listeners:
  - name: w
    bind: "[::1]:8080"
    protocol: http
    tls: { certificates: [ { cert: a, key: b } ] }
    routes:
      - cluster: c
      - match: { path: /r }
        redirect: { location: "https://x{path}" }
      - respond: {}
clusters:
  - { name: c, endpoints: ["127.0.0.1:7001"], health_check: {}, hash_key: client_ip }
dns: { listen: "127.0.0.1:8053" }
mdns: {}
)", "d.yaml", env_of({}), kAllFeatures);
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK_FALSE(c.admin.bind);
  const Listener& l = c.listeners.at(0);
  REQUIRE(l.tls);
  CHECK(l.tls->min_version == "1.2");
  CHECK(l.tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(l.tls->session_tickets);
  CHECK(l.tls->ticket_rotation == 12h);
  CHECK(l.tls->client_auth == ClientAuth::kNone);
  CHECK(l.tls->client_subject_header == "X-Client-Subject");
  const Route& r0 = l.routes.at(0);
  CHECK_FALSE(r0.match.host);
  CHECK_FALSE(r0.match.path_prefix);
  CHECK(r0.match.methods.empty());
  CHECK(r0.retries.attempts == 0);
  CHECK_FALSE(r0.retries.per_try_timeout);
  CHECK(l.routes.at(1).redirect->status == 301);
  CHECK(l.routes.at(2).respond->status == 200);
  const HealthCheck& hc = *c.clusters.at(0).health_check;
  CHECK(hc.type == HealthCheck::Type::kTcp);
  CHECK(hc.method == "GET");
  CHECK(hc.path == "/");
  CHECK(hc.expect == std::vector<int>{200});
  CHECK(hc.interval == 5s);
  CHECK(hc.timeout == 1s);
  CHECK(hc.rise == 2);
  CHECK(hc.fall == 3);
  const Dns& d = *c.dns;
  REQUIRE(d.listen.size() == 1);
  CHECK(d.upstreams.empty());
  REQUIRE(d.allow.size() == 2);  // the loopback default
  CHECK(d.allow[0].str() == "127.0.0.0/8");
  CHECK(d.allow[1].str() == "::1/128");
  CHECK(d.cache.max_entries == 100000);
  CHECK(d.cache.serve_stale == 24h);
  CHECK(d.upstream_timeout == 1500ms);
  CHECK(d.tcp_idle == 10s);
  CHECK(d.udp_batch == 32);
  const Mdns& m = *c.mdns;
  CHECK(m.hostname == "portico");
  CHECK(m.ipv4);
  CHECK(m.ipv6);
  CHECK_FALSE(m.signing);
  CHECK_FALSE(m.advertise_listeners);
}

TEST_CASE("${VAR} and ${VAR:-default} are replaced in scalar values; $$ is a dollar") {
  auto env = env_of({{"PORT", "7000"}, {"HOST", "127.0.0.1"}, {"EMPTY", ""}, {"TOK", "a$b"}});
  auto r = load_config_string(R"(
workers: ${WORKERS:-3}
admin:
  bind: "${HOST}:${ADMIN_PORT:-9911}"
  token: "$${TOK}-${TOK}-$$-${EMPTY:-fallback}-cost$5"
listeners:
  - name: ${NAME:-svc}
    bind: ${HOST}:${PORT}
    cluster: c
    timeouts:
      idle: ${IDLE:-90s}
clusters:
  - { name: c, endpoints: ["${HOST}:7001"] }
)", "env.yaml", env);
  REQUIRE_MESSAGE(r.ok(), all_errors(r));
  const Config& c = *r.config;
  CHECK(c.workers == 3);
  CHECK(c.admin.bind->str() == "127.0.0.1:9911");
  CHECK(c.admin.token == "${TOK}-a$b-$-fallback-cost$5");
  CHECK(c.listeners.at(0).name == "svc");
  CHECK(c.listeners.at(0).bind.str() == "127.0.0.1:7000");
  CHECK(c.listeners.at(0).timeouts.idle == 90s);
  CHECK(c.clusters.at(0).endpoints.at(0).address.str() == "127.0.0.1:7001");
}

TEST_CASE("process_env reads the real environment") {
  ::setenv("PORTICO_CONF_TEST_VAR", "hello", 1);
  std::string v;
  CHECK(process_env()("PORTICO_CONF_TEST_VAR", v));
  CHECK(v == "hello");
  ::unsetenv("PORTICO_CONF_TEST_VAR");
  CHECK_FALSE(process_env()("PORTICO_CONF_TEST_VAR", v));
}

TEST_CASE("check_supported refuses each unimplemented feature at its owner") {
  auto r = load_config_string(kFull, "full.yaml", env_of({}));
  REQUIRE_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& e : r.errors) got.push_back(e.str());
  std::vector<std::string> want = {
      "full.yaml:52:5: upstream tls (cluster 'api') on listener 'dns-relay' is not supported by this build yet",
  };
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    CAPTURE(i);
    CHECK((i < got.size() ? got[i] : std::string("<none>")) == (i < want.size() ? want[i] : std::string("<none>")));
  }
}

TEST_CASE("a config of supported features passes check_supported") {
  auto r = load_config_string(R"(
listeners:
  - { name: a, bind: "127.0.0.1:7000", cluster: c }
  - { name: u, bind: "127.0.0.1:7000", protocol: udp, cluster: c }
clusters:
  - { name: c, endpoints: ["127.0.0.1:7001"], lb: round_robin, proxy_protocol: off, tls: null }
)", "s.yaml", env_of({}));
  CHECK_MESSAGE(r.ok(), all_errors(r));
  std::vector<ConfigError> errors;
  check_supported(*r.config, errors);
  CHECK(errors.empty());
}

TEST_CASE("load_config_file reads a file and reports unreadable ones") {
  char path[] = "/tmp/portico_conf_test_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string text =
      "listeners:\n  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n"
      "clusters:\n  - { name: c, endpoints: [\"127.0.0.1:7001\"] }\n";
  REQUIRE(write(fd, text.data(), text.size()) == ssize_t(text.size()));
  close(fd);
  auto r = load_config_file(path, env_of({}));
  CHECK_MESSAGE(r.ok(), all_errors(r));
  if (r.ok()) CHECK(r.config->file == path);
  unlink(path);

  auto missing = load_config_file("/nonexistent/portico.yaml", env_of({}));
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].str() == "/nonexistent/portico.yaml: cannot read: No such file or directory");
  auto dir = load_config_file("/tmp", env_of({}));
  REQUIRE(dir.errors.size() == 1);
  CHECK(dir.errors[0].str() == "/tmp: cannot read: Is a directory");
}
