#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "conf/loader.hpp"
#include "mdns/signing.hpp"
#include "proxy/modules/mdns_options.hpp"

using namespace portico;
using namespace portico::modules;

namespace {

// Generated with `openssl genpkey -algorithm ed25519` for these tests only.
const char* kPrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIOGdKGCdqjpRn9e4OF69F7KJ9QKLP96GAwcNkLpXg90E\n"
    "-----END PRIVATE KEY-----\n";
const char* kPublicPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAtH91LSq4J0ZdQg7XzzznbNMqhpPpg7/lVwdP6878Hao=\n"
    "-----END PUBLIC KEY-----\n";
const char* kPublicRaw = "tH91LSq4J0ZdQg7XzzznbNMqhpPpg7/lVwdP6878Hao=\n";

// A file in a fresh temp dir, removed with the object.
struct TempFile {
  std::string dir, path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/portico-mdns-opt-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/f";
    std::ofstream(path) << content;
  }
  ~TempFile() {
    std::remove(path.c_str());
    ::rmdir(dir.c_str());
  }
};

std::shared_ptr<const conf::Config> load(const std::string& yaml) {
  auto r = conf::load_config_string(yaml, "t.yaml", [](std::string_view, std::string&) { return false; });
  REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors[0].str()));
  return r.config;
}

}  // namespace

TEST_CASE("the mdns section maps to engine options") {
  auto c = load(R"(
mdns:
  hostname: edge1
  services:
    - { name: "Portico web", type: _http._tcp, subtypes: [_printer], port: 8080, txt: { path: "/", v: "1" }, priority: 3, weight: 7 }
  browse: [_http._tcp, _ipp._tcp]
  ipv6: false
)");
  mdns::Options o;
  std::string err;
  REQUIRE_MESSAGE(build_mdns_options(*c, o, err), err);
  CHECK(o.hostname == "edge1");
  CHECK(o.ipv4);
  CHECK_FALSE(o.ipv6);
  CHECK(o.browse == std::vector<std::string>{"_http._tcp", "_ipp._tcp"});
  CHECK(o.interfaces.empty());
  REQUIRE(o.services.size() == 1);
  const auto& s = o.services[0];
  CHECK(s.instance == "Portico web");
  CHECK(s.type == "_http._tcp");
  CHECK(s.subtypes == std::vector<std::string>{"_printer"});
  CHECK(s.port == 8080);
  CHECK(s.priority == 3);
  CHECK(s.weight == 7);
  REQUIRE(s.txt.size() == 2);
  CHECK(s.txt[0] == mdns::TxtEntry{"path", "/", true});
  CHECK(s.txt[1] == mdns::TxtEntry{"v", "1", true});
  CHECK_FALSE(o.signing.private_key);
  CHECK(o.signing.trusted_keys.empty());
}

TEST_CASE("advertise_listeners adds _http._tcp for plain HTTP listeners reachable off the host") {
  auto c = load(R"(
listeners:
  - { name: web, bind: "0.0.0.0:8080", protocol: http, routes: [ { respond: { status: 200 } } ] }
  - { name: v6, bind: "[::]:8081", protocol: http, routes: [ { respond: { status: 200 } } ] }
  - { name: local, bind: "127.0.0.1:8082", protocol: http, routes: [ { respond: { status: 200 } } ] }
  - { name: raw, bind: "0.0.0.0:9000", protocol: tcp, cluster: c }
clusters:
  - { name: c, endpoints: ["127.0.0.1:9001"] }
mdns:
  hostname: edge1
  advertise_listeners: true
  services: [ { name: "edge1 web", type: _http._tcp, port: 8080 } ]
)");
  auto adv = advertised_listeners(*c);
  REQUIRE(adv.size() == 2);
  CHECK(adv[0].instance == "edge1 web");
  CHECK(adv[0].type == "_http._tcp");
  CHECK(adv[0].port == 8080);
  CHECK(adv[1].instance == "edge1 v6");
  CHECK(adv[1].port == 8081);
  mdns::Options o;
  std::string err;
  REQUIRE_MESSAGE(build_mdns_options(*c, o, err), err);
  // "edge1 web" is configured explicitly already: not added twice.
  REQUIRE(o.services.size() == 2);
  CHECK(o.services[1].instance == "edge1 v6");
}

TEST_CASE("signing keys are read from PEM files; raw base64 public keys are accepted") {
  TempFile priv(kPrivatePem), pub(kPublicPem), raw(kPublicRaw);
  auto c = load("mdns:\n  signing: { key: \"" + priv.path + "\", trusted_keys: [\"" + pub.path + "\", \"" +
                raw.path + "\"] }\n");
  mdns::Options o;
  std::string err;
  REQUIRE_MESSAGE(build_mdns_options(*c, o, err), err);
  REQUIRE(o.signing.private_key);
  REQUIRE(o.signing.trusted_keys.size() == 2);
  CHECK(o.signing.trusted_keys[0] == mdns::public_key_of(*o.signing.private_key));
  CHECK(o.signing.trusted_keys[1] == o.signing.trusted_keys[0]);
}

TEST_CASE("an unreadable or invalid key file is an error, never unsigned or trust-all") {
  TempFile junk("not a key\n");
  mdns::Options o;
  std::string err;
  auto missing = load("mdns:\n  signing: { key: /nonexistent/portico.key }\n");
  CHECK_FALSE(build_mdns_options(*missing, o, err));
  CHECK(err.find("/nonexistent/portico.key") != std::string::npos);
  auto bad_key = load("mdns:\n  signing: { key: \"" + junk.path + "\" }\n");
  CHECK_FALSE(build_mdns_options(*bad_key, o, err));
  CHECK(err.find("not an Ed25519 private key") != std::string::npos);
  auto bad_trust = load("mdns:\n  signing: { trusted_keys: [\"" + junk.path + "\"] }\n");
  CHECK_FALSE(build_mdns_options(*bad_trust, o, err));
  CHECK(err.find("not an Ed25519 public key") != std::string::npos);
  auto missing_trust = load("mdns:\n  signing: { trusted_keys: [/nonexistent/k.pub] }\n");
  CHECK_FALSE(build_mdns_options(*missing_trust, o, err));
  CHECK(err.find("trusted_keys") != std::string::npos);
}

TEST_CASE("two services with the same name and type (any case) are refused") {
  auto c = load(R"(
mdns:
  services:
    - { name: "Web", type: _http._tcp, port: 80 }
    - { name: "web", type: _http._tcp, port: 81 }
)");
  mdns::Options o;
  std::string err;
  CHECK_FALSE(build_mdns_options(*c, o, err));
  CHECK(err.find("two services named 'web'") != std::string::npos);
  auto ok = load(R"(
mdns:
  services:
    - { name: "Web", type: _http._tcp, port: 80 }
    - { name: "Web", type: _ipp._tcp, port: 631 }
)");
  CHECK(build_mdns_options(*ok, o, err));
}

TEST_CASE("a host name the engine refuses is reported") {
  auto c = load("mdns:\n  hostname: " + std::string(62, 'h') + "\n");
  mdns::Options o;
  std::string err;
  CHECK_FALSE(build_mdns_options(*c, o, err));
  CHECK(err.find("hostname") != std::string::npos);
}

TEST_CASE("same_settings and same_except_services tell what changed") {
  mdns::Options a;
  a.services = {{"A", "_http._tcp", {}, 80, {}, 0, 0}};
  a.browse = {"_http._tcp"};
  mdns::Options b = a;
  CHECK(same_settings(a, b));
  b.interfaces = {{3, "eth0", {}}};  // interfaces are not settings
  CHECK(same_settings(a, b));
  b.services[0].port = 81;
  CHECK_FALSE(same_settings(a, b));
  CHECK(same_except_services(a, b));
  CHECK_FALSE(same_service(a.services[0], b.services[0]));
  b = a;
  b.hostname = "other";
  CHECK_FALSE(same_except_services(a, b));
  b = a;
  b.ipv6 = false;
  CHECK_FALSE(same_except_services(a, b));
  b = a;
  b.browse.push_back("_ipp._tcp");
  CHECK_FALSE(same_except_services(a, b));
}
