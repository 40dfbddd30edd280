// Invalid configs: each error has its exact message and file:line:col, and
// every error of a file is reported, not only the first.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "conf/loader.hpp"
#include "error_lines.hpp"

using namespace portico::conf;

namespace {

using Lines = std::vector<std::string>;

// All errors of yaml as "file:line:col: message". Schema errors are checked
// with check_supported off so http/tls features can be used freely.
Lines errors_of(const std::string& yaml, std::map<std::string, std::string> env = {},
                bool check = false) {
  EnvLookup lookup = [&env](std::string_view name, std::string& value) {
    auto it = env.find(std::string(name));
    if (it == env.end()) return false;
    value = it->second;
    return true;
  };
  LoadResult r = load_config_string(yaml, "e.yaml", lookup, LoadOptions{check});
  Lines out;
  for (const auto& e : r.errors) out.push_back(e.str());
  if (!r.errors.empty()) CHECK(r.config == nullptr);
  return out;
}

const std::string kCluster = "clusters:\n  - { name: c, endpoints: [\"127.0.0.1:7001\"] }\n";

}  // namespace

TEST_CASE("ConfigError::str formats with and without a position") {
  CHECK(ConfigError{"a.yaml", 3, 7, "bad"}.str() == "a.yaml:3:7: bad");
  CHECK(ConfigError{"a.yaml", 0, 0, "bad"}.str() == "a.yaml: bad");
}

TEST_CASE("an empty file, a non-mapping top level, bad YAML and extra documents") {
  CHECK(errors_of("") == Lines{"e.yaml: the config is empty"});
  CHECK(errors_of("# nothing here\n") == Lines{"e.yaml: the config is empty"});
  CHECK(errors_of("- a\n- b\n") ==
        Lines{"e.yaml:1:1: the top level must be a mapping of keys, got a list"});
  CHECK(errors_of("hello\n") ==
        Lines{"e.yaml:1:1: the top level must be a mapping of keys, got 'hello'"});
  CHECK(errors_of("workers: 1\n---\nworkers: 2\n") ==
        Lines{"e.yaml:3:1: only one YAML document is allowed"});
  CHECK(errors_of("workers: [1\n") ==
        Lines{"e.yaml:2:1: invalid YAML: end of sequence flow not found"});
  CHECK(errors_of("a: b: c\n") ==
        Lines{"e.yaml:1:5: invalid YAML: illegal map value"});
}

TEST_CASE("unknown and duplicate keys") {
  CHECK(errors_of("foo: 1\nworkers: 2\n") ==
        Lines{"e.yaml:1:1: unknown key 'foo' at the top level"});
  CHECK(errors_of("listeners:\n"
                  "  - name: a\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    cluster: c\n"
                  "    foo: 1\n" + kCluster) ==
        Lines{"e.yaml:5:5: listeners[0]: unknown key 'foo' in listener"});
  CHECK(errors_of("listeners:\n"
                  "  - name: a\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    cluster: c\n"
                  "    timeouts: { idel: 5s }\n" + kCluster) ==
        Lines{"e.yaml:5:17: listeners[0].timeouts: unknown key 'idel' in timeouts"});
  CHECK(errors_of("clusters:\n  - name: c\n    endpoints: [\"127.0.0.1:1\"]\n    weight: 3\n") ==
        Lines{"e.yaml:4:5: clusters[0]: unknown key 'weight' in cluster"});
  CHECK(errors_of("workers: 1\nworkers: 2\n") ==
        Lines{"e.yaml:2:1: duplicate key 'workers' at the top level"});
}

TEST_CASE("wrong types name what was expected and what was found") {
  CHECK(errors_of("listeners: {}\n") == Lines{"e.yaml:1:12: listeners: expected a list, got a mapping"});
  CHECK(errors_of("log: debug\n") ==
        Lines{"e.yaml:1:6: log: expected a mapping (log), got 'debug'"});
  CHECK(errors_of("admin: { bind: [1] }\n") ==
        Lines{"e.yaml:1:16: admin.bind: expected an address like 127.0.0.1:8080, got a list"});
  CHECK(errors_of("listeners:\n"
                  "  - name: a\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    cluster: c\n"
                  "    timeouts: { idle: abc }\n" + kCluster) ==
        Lines{"e.yaml:5:23: listeners[0].timeouts.idle: expected a duration like 10s, got 'abc'"});
  CHECK(errors_of("drain_timeout: -5s\n") ==
        Lines{"e.yaml:1:16: drain_timeout: expected a duration like 10s, got '-5s'"});
  CHECK(errors_of("runtime: { buffer_size: big }\n") ==
        Lines{"e.yaml:1:25: runtime.buffer_size: expected a size like 16KiB, got 'big'"});
  CHECK(errors_of("runtime: { buffer_size: 99999999999999999999KiB }\n") ==
        Lines{"e.yaml:1:25: runtime.buffer_size: expected a size like 16KiB, got "
              "'99999999999999999999KiB'"});
  CHECK(errors_of("runtime: { buffers: 1k }\n") ==
        Lines{"e.yaml:1:21: runtime.buffers: expected an integer, got '1k'"});
  CHECK(errors_of("mdns: { ipv4: maybe }\n") ==
        Lines{"e.yaml:1:15: mdns.ipv4: expected true or false, got 'maybe'"});
  CHECK(errors_of("workers: many\n") ==
        Lines{"e.yaml:1:10: workers: expected auto or an integer from 1 to 256, got 'many'"});
}

TEST_CASE("out-of-range numbers, sizes and durations give the bounds") {
  CHECK(errors_of("workers: 300\n") ==
        Lines{"e.yaml:1:10: workers: must be between 1 and 256, got 300"});
  CHECK(errors_of("workers: 0\n") == Lines{"e.yaml:1:10: workers: must be between 1 and 256, got 0"});
  CHECK(errors_of("runtime:\n  buffer_size: 2MiB\n  buffers: 10\n  ring_entries: 65536\n") ==
        Lines{"e.yaml:2:16: runtime.buffer_size: must be between 4KiB and 1MiB, got 2MiB",
              "e.yaml:3:12: runtime.buffers: must be between 64 and 1048576, got 10",
              "e.yaml:4:17: runtime.ring_entries: must be between 64 and 32768, got 65536"});
  CHECK(errors_of("runtime: { batch_wait: 20ms, batch_wait_events: 1 }\n") ==
        Lines{"e.yaml:1:24: runtime.batch_wait: must be between 0s and 10ms, got 20ms",
              "e.yaml:1:49: runtime.batch_wait_events: must be between 2 and 1024, got 1"});
  CHECK(errors_of("drain_timeout: 2h\n") ==
        Lines{"e.yaml:1:16: drain_timeout: must be between 0s and 1h, got 2h"});
  CHECK(errors_of("clusters:\n"
                  "  - name: c\n"
                  "    endpoints: [ { address: \"127.0.0.1:1\", weight: 0 } ]\n") ==
        Lines{"e.yaml:3:52: clusters[0].endpoints[0].weight: must be between 1 and 10000, got 0"});
}

TEST_CASE("bad addresses say what is wrong") {
  auto bind = [](const std::string& addr) {
    return errors_of("listeners:\n  - name: a\n    bind: \"" + addr + "\"\n    cluster: c\n" +
                     kCluster);
  };
  CHECK(bind("localhost:80") ==
        Lines{"e.yaml:3:11: listeners[0].bind: bad address 'localhost:80': 'localhost' is not an "
              "IP address (host names are not resolved here)"});
  CHECK(bind("127.0.0.1") ==
        Lines{"e.yaml:3:11: listeners[0].bind: bad address '127.0.0.1': missing port"});
  CHECK(bind("127.0.0.1:0") ==
        Lines{"e.yaml:3:11: listeners[0].bind: bad address '127.0.0.1:0': port 0 is not allowed"});
  CHECK(bind("127.0.0.1:65536") ==
        Lines{"e.yaml:3:11: listeners[0].bind: bad address '127.0.0.1:65536': port 65536 is out "
              "of range 1..65535"});
  CHECK(bind("[::1:80") ==
        Lines{"e.yaml:3:11: listeners[0].bind: bad address '[::1:80': missing ']' after IPv6 "
              "address"});
  CHECK(bind("unix:/" + std::string(120, 'x')).at(0).find(
            "unix socket path is too long (121 bytes, at most 107)") != std::string::npos);
  CHECK(errors_of("dns: { listen: [\"127.0.0.1:53\"], upstreams: [\"dns.google\"] }\n") ==
        Lines{"e.yaml:1:46: dns.upstreams[0]: bad address 'dns.google': 'dns.google' is not an "
              "IP address (host names are not resolved here)"});
  CHECK(errors_of("dns: { listen: [\"unix:/x\"] }\n") ==
        Lines{"e.yaml:1:17: dns.listen[0]: the dns server listens on IP addresses only"});
  CHECK(errors_of("dns: { listen: \"127.0.0.1:53\", allow: [\"10.0.0.0/33\"] }\n") ==
        Lines{"e.yaml:1:40: dns.allow[0]: expected a network like 10.0.0.0/8 or ::1/128, got "
              "'10.0.0.0/33'"});
  CHECK(errors_of("dns: { listen: \"127.0.0.1:53\", allow: [] }\n") ==
        Lines{"e.yaml:1:39: dns.allow: must not be empty (leave it out for the loopback default)"});
}

TEST_CASE("bad enum values list the allowed ones") {
  CHECK(errors_of("event_loop: kqueue\n") ==
        Lines{"e.yaml:1:13: event_loop: expected one of auto, io_uring, epoll, got 'kqueue'"});
  CHECK(errors_of("log: { level: loud }\n") ==
        Lines{"e.yaml:1:15: log.level: expected one of error, warn, info, debug, got 'loud'"});
  CHECK(errors_of("listeners:\n  - { name: a, bind: \"127.0.0.1:7000\", protocol: sctp, cluster: c }\n" +
                  kCluster) ==
        Lines{"e.yaml:2:50: listeners[0].protocol: expected one of tcp, udp, http, got 'sctp'"});
  CHECK(errors_of("clusters:\n  - name: c\n    endpoints: [\"127.0.0.1:1\"]\n"
                  "    lb: fastest\n    proxy_protocol: v3\n") ==
        Lines{"e.yaml:4:9: clusters[0].lb: expected one of round_robin, weighted_round_robin, "
              "least_connections, least_request, random, ring_hash, maglev, got 'fastest'",
              "e.yaml:5:21: clusters[0].proxy_protocol: expected one of off, v1, v2, got 'v3'"});
  // YAML 1.1 reads a bare `off` as boolean false: both spellings mean off.
  CHECK(errors_of("clusters:\n  - name: c\n    endpoints: [\"127.0.0.1:1\"]\n"
                  "    proxy_protocol: false\n").empty());
}

TEST_CASE("missing required keys are reported at the mapping") {
  CHECK(errors_of("listeners:\n"
                  "  - cluster: c\n"
                  "clusters:\n"
                  "  - { name: c, endpoints: [\"127.0.0.1:7001\"] }\n"
                  "  - endpoints: [\"127.0.0.1:7002\"]\n") ==
        Lines{"e.yaml:2:5: listeners[0]: missing required key 'name' in listener",
              "e.yaml:2:5: listeners[0]: missing required key 'bind' in listener",
              "e.yaml:5:5: clusters[1]: missing required key 'name' in cluster"});
}

TEST_CASE("duplicate listener names, cluster names and bind addresses") {
  CHECK(errors_of("listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n"
                  "  - { name: u, bind: \"127.0.0.1:7000\", cluster: c, protocol: udp }\n" +
                  kCluster) ==
        Lines{"e.yaml:3:13: listeners[1].name: duplicate listener name 'a' (first at line 2)",
              "e.yaml:3:22: listeners[1].bind: bind address 127.0.0.1:7000 is already used by "
              "listener 'a'"});
  CHECK(errors_of("clusters:\n"
                  "  - { name: c, endpoints: [\"127.0.0.1:7001\"] }\n"
                  "  - { name: c, endpoints: [\"127.0.0.1:7002\"] }\n") ==
        Lines{"e.yaml:3:13: clusters[1].name: duplicate cluster name 'c' (first at line 2)"});
  CHECK(errors_of("admin: { bind: \"127.0.0.1:7000\" }\n"
                  "listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n" + kCluster) ==
        Lines{"e.yaml:3:22: listeners[0].bind: bind address 127.0.0.1:7000 is also the admin "
              "bind address"});
  CHECK(errors_of("dns: { listen: \"127.0.0.1:7000\" }\n"
                  "listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c, protocol: udp }\n" + kCluster) ==
        Lines{"e.yaml:3:22: listeners[0].bind: bind address 127.0.0.1:7000 is also a dns.listen "
              "address"});
  CHECK(errors_of("clusters:\n  - { name: c, endpoints: [\"127.0.0.1:1\", \"127.0.0.1:1\"] }\n") ==
        Lines{"e.yaml:2:43: clusters[0].endpoints[1]: duplicate endpoint 127.0.0.1:1"});
}

TEST_CASE("defer_accept is a boolean for tcp and http listeners") {
  CHECK(errors_of("listeners:\n"
                  "  - { name: u, bind: \"127.0.0.1:7000\", cluster: c, protocol: udp, defer_accept: true }\n" +
                  kCluster) ==
        Lines{"e.yaml:2:81: listeners[0].defer_accept: defer_accept is for tcp and http listeners"});
  CHECK(errors_of("listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c, defer_accept: sometimes }\n" +
                  kCluster)
            .size() == 1);
}

TEST_CASE("splice is a boolean for plain tcp listeners") {
  CHECK(errors_of("listeners:\n"
                  "  - { name: u, bind: \"127.0.0.1:7000\", cluster: c, protocol: udp, splice: true }\n" +
                  kCluster) ==
        Lines{"e.yaml:2:75: listeners[0].splice: splice is for tcp listeners"});
  const Lines tls = errors_of("listeners:\n"
                              "  - name: t\n"
                              "    bind: \"127.0.0.1:7000\"\n"
                              "    cluster: c\n"
                              "    tls: { certificates: [ { cert: c.pem, key: k.pem } ] }\n"
                              "    splice: true\n" + kCluster);
  CHECK(std::count(tls.begin(), tls.end(),
                   "e.yaml:6:13: listeners[0].splice: splice cannot apply to a tls listener (its bytes are "
                   "decrypted in portico)") == 1);
  CHECK(errors_of("listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c, splice: maybe }\n" + kCluster)
            .size() == 1);
  CHECK(errors_of("listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c, splice: false }\n" + kCluster)
            .empty());
}

TEST_CASE("references to undefined clusters") {
  CHECK(errors_of("listeners:\n"
                  "  - name: a\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    cluster: x\n" + kCluster) ==
        Lines{"e.yaml:4:14: listeners[0].cluster: unknown cluster 'x'"});
  CHECK(errors_of("listeners:\n"
                  "  - name: a\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    protocol: http\n"
                  "    routes:\n"
                  "      - cluster: x\n" + kCluster) ==
        Lines{"e.yaml:6:18: listeners[0].routes[0].cluster: unknown cluster 'x'"});
}

TEST_CASE("listener shape depends on its protocol") {
  const std::string head = "listeners:\n  - name: a\n    bind: \"127.0.0.1:7000\"\n";
  CHECK(errors_of(head + kCluster) == Lines{"e.yaml:2:5: listeners[0]: a tcp listener needs 'cluster'"});
  CHECK(errors_of(head + "    protocol: udp\n    cluster: c\n    routes: []\n" + kCluster) ==
        Lines{"e.yaml:6:5: listeners[0].routes: a udp listener takes no 'routes' (routes are for "
              "http)"});
  CHECK(errors_of(head + "    cluster: c\n    routes:\n      - cluster: c\n" + kCluster) ==
        Lines{"e.yaml:5:5: listeners[0].routes: a tcp listener takes no 'routes' (routes are for "
              "http)"});
  CHECK(errors_of(head + "    protocol: http\n" + kCluster) ==
        Lines{"e.yaml:2:5: listeners[0]: an http listener needs 'routes'"});
  CHECK(errors_of(head + "    protocol: http\n    routes: []\n" + kCluster) ==
        Lines{"e.yaml:5:13: listeners[0].routes: an http listener needs at least one route"});
  CHECK(errors_of(head + "    protocol: http\n    cluster: c\n    routes:\n      - cluster: c\n" +
                  kCluster) ==
        Lines{"e.yaml:5:5: listeners[0].cluster: an http listener takes no 'cluster': use a "
              "route with cluster"});
}

TEST_CASE("routes need exactly one action and a valid regex") {
  const std::string head =
      "listeners:\n  - name: a\n    bind: \"127.0.0.1:7000\"\n    protocol: http\n    routes:\n";
  CHECK(errors_of(head + "      - match: { path: / }\n"
                         "      - cluster: c\n"
                         "        respond: { status: 200 }\n" + kCluster) ==
        Lines{"e.yaml:6:9: listeners[0].routes[0]: route has no action: set one of cluster, "
              "static, redirect, respond",
              "e.yaml:7:9: listeners[0].routes[1]: route has more than one action (cluster, "
              "respond): set exactly one"});
  // The reason after the pattern is the standard library's regex_error text.
  Lines re = errors_of(head + "      - match: { path_regex: \"(\" }\n        respond: {}\n");
  REQUIRE(re.size() == 1);
  CHECK(re[0].rfind("e.yaml:6:30: listeners[0].routes[0].match.path_regex: invalid regular "
                    "expression '(': ", 0) == 0);
  CHECK(errors_of(head + "      - match: { path: /a, path_prefix: /b }\n        respond: {}\n") ==
        Lines{"e.yaml:6:16: listeners[0].routes[0].match: use only one of path, path_prefix, "
              "path_regex"});
  CHECK(errors_of(head + "      - match: { path: a }\n        redirect: { status: 200 }\n") ==
        Lines{"e.yaml:6:24: listeners[0].routes[0].match.path: must start with '/', got 'a'",
              "e.yaml:7:19: listeners[0].routes[0].redirect: missing required key 'location' in "
              "redirect",
              "e.yaml:7:29: listeners[0].routes[0].redirect.status: expected one of 301, 302, "
              "303, 307, 308, got 200"});
  CHECK(errors_of(head + "      - respond: { status: 204, body: \"x\" }\n") ==
        Lines{"e.yaml:6:39: listeners[0].routes[0].respond.body: must be empty: a 204 response has no body"});
  CHECK(errors_of(head + "      - respond: { status: 304, body: \"\" }\n").empty());
}

TEST_CASE("clusters need endpoints or discovery, not both") {
  CHECK(errors_of("clusters:\n"
                  "  - name: c\n"
                  "  - name: d\n"
                  "    endpoints: [\"127.0.0.1:1\"]\n"
                  "    discovery: { dns: \"d.internal:80\" }\n") ==
        Lines{"e.yaml:2:5: clusters[0]: a cluster needs 'endpoints' or 'discovery'",
              "e.yaml:5:5: clusters[1]: a cluster takes 'endpoints' or 'discovery', not both"});
  CHECK(errors_of("clusters:\n  - { name: c, discovery: { dns: d.internal } }\n") ==
        Lines{"e.yaml:2:34: clusters[0].discovery.dns: expected a name with a port like "
              "api.internal:8080, got 'd.internal'"});
  CHECK(errors_of("clusters:\n  - { name: c, endpoints: [] }\n") ==
        Lines{"e.yaml:2:27: clusters[0].endpoints: must not be empty"});
}

TEST_CASE("udp listeners cannot use unix sockets") {
  CHECK(errors_of("listeners:\n"
                  "  - name: a\n"
                  "    bind: \"unix:/tmp/a.sock\"\n"
                  "    protocol: udp\n"
                  "    cluster: c\n"
                  "  - name: b\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    protocol: udp\n"
                  "    cluster: u\n"
                  "clusters:\n"
                  "  - { name: c, endpoints: [\"127.0.0.1:7001\"] }\n"
                  "  - { name: u, endpoints: [\"unix:/tmp/u.sock\"] }\n") ==
        Lines{"e.yaml:3:11: listeners[0].bind: a udp listener cannot bind a unix socket",
              "e.yaml:9:14: listeners[1].cluster: udp listener 'b' cannot use cluster 'u': "
              "endpoint unix:/tmp/u.sock is a unix socket"});
}

TEST_CASE("environment substitution errors are located at the value") {
  CHECK(errors_of("admin:\n  token: ${TOKEN}\n") ==
        Lines{"e.yaml:2:10: admin.token: environment variable 'TOKEN' is not set (use "
              "${TOKEN:-default} for a default)"});
  CHECK(errors_of("admin: { token: \"${TOKEN\" }\n") ==
        Lines{"e.yaml:1:17: admin.token: unterminated '${' in '${TOKEN'"});
  CHECK(errors_of("admin: { token: \"${1X}\" }\n") ==
        Lines{"e.yaml:1:17: admin.token: invalid environment variable name '1X' in '${1X}'"});
  // A substituted value is checked like a literal one.
  CHECK(errors_of("drain_timeout: ${DRAIN}\n", {{"DRAIN", "soon"}}) ==
        Lines{"e.yaml:1:16: drain_timeout: expected a duration like 10s, got 'soon'"});
}

TEST_CASE("every error of a file is collected, in file order") {
  Lines got = errors_of("workers: 999\n"
                        "event_loop: poll\n"
                        "listeners:\n"
                        "  - name: a\n"
                        "    bind: \"127.0.0.1\"\n"
                        "    cluster: nope\n"
                        "    timeouts: { idle: forever }\n"
                        "clusters:\n"
                        "  - name: c\n"
                        "bogus: true\n");
  CHECK(got == Lines{
                   "e.yaml:1:10: workers: must be between 1 and 256, got 999",
                   "e.yaml:2:13: event_loop: expected one of auto, io_uring, epoll, got 'poll'",
                   "e.yaml:5:11: listeners[0].bind: bad address '127.0.0.1': missing port",
                   "e.yaml:6:14: listeners[0].cluster: unknown cluster 'nope'",
                   "e.yaml:7:23: listeners[0].timeouts.idle: expected a duration like 10s, got "
                   "'forever'",
                   "e.yaml:9:5: clusters[0]: a cluster needs 'endpoints' or 'discovery'",
                   "e.yaml:10:1: unknown key 'bogus' at the top level",
               });
}

TEST_CASE("other section checks") {
  CHECK(errors_of("listeners:\n  - name: a\n    bind: \"127.0.0.1:7000\"\n    protocol: http\n"
                  "    tls: { certificates: [ { cert: a, key: b } ], client_auth: required }\n"
                  "    routes: [ { respond: {} } ]\n") ==
        Lines{"e.yaml:5:64: listeners[0].tls.client_auth: client_auth needs client_ca"});
  CHECK(errors_of("clusters:\n  - name: c\n    endpoints: [\"127.0.0.1:1\"]\n"
                  "    health_check: { interval: 1s, timeout: 2s }\n") ==
        Lines{"e.yaml:4:44: clusters[0].health_check.timeout: must not exceed interval (1s)"});
  CHECK(errors_of("mdns: { ipv4: false, ipv6: no, hostname: \"a.b\" }\n") ==
        Lines{"e.yaml:1:7: mdns: at least one of ipv4, ipv6 must be true",
              "e.yaml:1:42: mdns.hostname: expected one DNS label (letters, digits, '-'; at "
              "most 63), got 'a.b'"});
  CHECK(errors_of("mdns: { services: [ { name: x, type: http, port: 0 } ] }\n") ==
        Lines{"e.yaml:1:38: mdns.services[0].type: expected a service type like _http._tcp, got "
              "'http'",
              "e.yaml:1:50: mdns.services[0].port: must be between 1 and 65535, got 0"});
  CHECK(errors_of("dns: { listen: [] }\n") ==
        Lines{"e.yaml:1:16: dns.listen: needs at least one address"});
  CHECK(errors_of("dns: {}\n") == Lines{"e.yaml:1:6: dns: missing required key 'listen' in dns"});
}

TEST_CASE("check_supported errors come after a clean parse, with the fixed wording") {
  CHECK(errors_of("listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n"
                  "clusters:\n"
                  "  - { name: c, endpoints: [\"127.0.0.1:7001\"], tls: { ca: /etc/ssl/certs/ca-certificates.crt } }\n",
                  {}, true) ==
        Lines{"e.yaml:2:5: upstream tls (cluster 'c') on listener 'a' is not supported by this build yet"});
}

TEST_CASE("mdns discovery needs its service type browsed") {
  CHECK(errors_of("listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n"
                  "clusters:\n"
                  "  - { name: c, discovery: { mdns: _http._tcp } }\n",
                  {}, true) ==
        Lines{"e.yaml:4:5: discovery mdns on cluster 'c' needs '_http._tcp' in mdns.browse"});
  CHECK(errors_of("mdns: { browse: [_http._tcp] }\n"
                  "listeners:\n"
                  "  - { name: a, bind: \"127.0.0.1:7000\", cluster: c }\n"
                  "clusters:\n"
                  "  - { name: c, discovery: { mdns: _http._tcp } }\n",
                  {}, true)
            .empty());
}

TEST_CASE("hostile input is reported, never crashes") {
  std::string deep(5000, '[');
  deep = "workers: " + deep + std::string(5000, ']') + "\n";
  Lines d = errors_of(deep);
  REQUIRE(d.size() == 1);
  CHECK(d[0].find("invalid YAML") != std::string::npos);
  CHECK(errors_of("? [a, b]\n: 1\n") == Lines{"e.yaml:1:3: keys must be plain names at the top level"});
  CHECK(errors_of("a: &x [1, 2]\nlisteners: *x\n") ==
        Lines{"e.yaml:1:1: unknown key 'a' at the top level",
              "e.yaml:1:8: listeners[0]: expected a mapping (listener), got '1'",
              "e.yaml:1:11: listeners[1]: expected a mapping (listener), got '2'"});
  CHECK(errors_of(std::string("workers: \"\0\"\n", 14)).size() == 1);
  CHECK(errors_of("event_loop: " + std::string(200, 'x') + "\n") ==
        Lines{"e.yaml:1:13: event_loop: expected one of auto, io_uring, epoll, got '" +
              std::string(77, 'x') + "...'"});
  CHECK(errors_of("workers: !!binary aGVsbG8=\n") ==
        Lines{"e.yaml:1:10: workers: expected auto or an integer from 1 to 256, got 'aGVsbG8='"});
}

TEST_CASE("text that is not UTF-8, and names with control characters, are refused where they stand") {
  // Raw bytes: yaml-cpp passes them through; they must not reach /metrics or /config.
  Lines e = errors_of("clusters:\n  - { name: \"bad\xff\xfe\", endpoints: [\"127.0.0.1:7001\"] }\n");
  REQUIRE(e.size() == 1);
  CHECK(e[0] == "e.yaml:2:13: clusters[0].name: is not valid UTF-8");
  // An overlong encoding and a lone continuation byte are not UTF-8 either.
  CHECK(errors_of("clusters:\n  - { name: \"a\xc0\xaf" "b\", endpoints: [\"127.0.0.1:7001\"] }\n").size() == 1);
  CHECK(errors_of("clusters:\n  - { name: \"\x80\", endpoints: [\"127.0.0.1:7001\"] }\n").size() == 1);
  // Escapes that make control characters are fine in text, not in a name.
  CHECK(errors_of("clusters:\n  - { name: \"h\\0x\", endpoints: [\"127.0.0.1:7001\"] }\n") ==
        Lines{"e.yaml:2:13: clusters[0].name: must not contain control characters"});
  CHECK(errors_of("listeners:\n"
                  "  - name: \"a\\tb\"\n"
                  "    bind: \"127.0.0.1:7000\"\n"
                  "    cluster: c\n" + kCluster) ==
        Lines{"e.yaml:2:11: listeners[0].name: must not contain control characters"});
  // Non-ASCII UTF-8 names are fine.
  CHECK(errors_of("clusters:\n  - { name: \"caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80\", endpoints: [\"127.0.0.1:7001\"] }\n")
            .empty());
}

TEST_CASE("keys that do not apply to a udp listener are refused, not ignored") {
  const std::string head = "listeners:\n  - name: u\n    bind: \"127.0.0.1:7000\"\n    protocol: udp\n    cluster: c\n";
  CHECK(errors_of(head + "    proxy_protocol_from: 127.0.0.1\n" + kCluster) ==
        Lines{"e.yaml:6:5: listeners[0].proxy_protocol_from: a udp listener reads no PROXY protocol header"});
  CHECK(errors_of(head + "    limits: { max_connections: 5, udp_sessions: 10 }\n" + kCluster) ==
        Lines{"e.yaml:6:15: listeners[0].limits.max_connections: does not apply to a udp listener (only udp_sessions does)"});
  CHECK(errors_of(head + "    timeouts: { connect: 1s, idle: 5s }\n" + kCluster) ==
        Lines{"e.yaml:6:17: listeners[0].timeouts.connect: does not apply to a udp listener (only idle does)"});
  CHECK(errors_of("listeners:\n  - name: t\n    bind: \"127.0.0.1:7000\"\n    cluster: c\n"
                  "    limits: { udp_sessions: 10 }\n" + kCluster) ==
        Lines{"e.yaml:5:15: listeners[0].limits.udp_sessions: is for udp listeners"});
  CHECK(errors_of(head + "    limits: { udp_sessions: 10 }\n    timeouts: { idle: 5s }\n" + kCluster).empty());
}
