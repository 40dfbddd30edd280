// proxy/modules/dns_options: conf::Dns -> dnscache::Options, resolv.conf parsing,
// and the start-up check that zones and records load.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "conf/loader.hpp"
#include "proxy/modules/dns_options.hpp"

namespace portico::modules {
namespace {

uint16_t port_of(const sockaddr_storage& ss) {
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(ss).sin_port
                                       : reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
}

std::shared_ptr<const conf::Config> load(const std::string& yaml) {
  conf::LoadResult r = conf::load_config_string(yaml, "t.yaml");
  if (!r.ok()) {
    for (const auto& e : r.errors) MESSAGE(e.str());
  }
  REQUIRE(r.ok());
  return r.config;
}

std::string temp_file(const std::string& text) {
  char path[] = "/tmp/portico-dns-opts-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("resolv.conf: nameserver lines only, IPv4 and IPv6 (with scope), port 53") {
  auto ns = parse_resolv_conf(
      "# comment\n"
      "search example.test\n"
      "nameserver 192.0.2.53\n"
      "nameserver   2001:db8::53  \n"
      "nameserver not-an-address\n"
      "nameserver\n"
      "options ndots:2\n"
      "nameserver 127.0.0.1");  // no final newline
  REQUIRE(ns.size() == 3);
  CHECK(ns[0].ss_family == AF_INET);
  CHECK(ns[1].ss_family == AF_INET6);
  CHECK(ns[2].ss_family == AF_INET);
  for (const auto& s : ns) CHECK(port_of(s) == 53);
  CHECK(parse_resolv_conf("").empty());
}

TEST_CASE("dns options follow the config; no upstreams means resolv.conf") {
  auto c = load(
      "dns:\n"
      "  listen: [\"127.0.0.1:8053\"]\n"
      "  cache: { max_entries: 50, min_ttl: 5s, max_ttl: 1h, negative_ttl: 10m, serve_stale: 0s, prefetch: false }\n"
      "  records: [\"a.test. 60 IN A 192.0.2.1\"]\n"
      "  allow: [\"10.0.0.0/8\"]\n"
      "  upstream_timeout: 250ms\n");
  const std::string resolv = temp_file("nameserver 192.0.2.10\nnameserver 192.0.2.11\n");
  dnscache::Options o;
  std::string err;
  REQUIRE(dns_options_from_config(*c->dns, o, err, resolv.c_str()));
  CHECK(o.upstreams.size() == 2);
  CHECK(o.max_entries == 50);
  CHECK(o.min_ttl == std::chrono::seconds(5));
  CHECK(o.max_ttl == std::chrono::seconds(3600));
  CHECK(o.negative_ttl == std::chrono::seconds(600));
  CHECK(o.serve_stale == std::chrono::seconds(0));
  CHECK_FALSE(o.prefetch);
  CHECK(o.upstream_timeout == std::chrono::milliseconds(250));
  CHECK(o.upstream_tcp_timeout >= std::chrono::milliseconds(500));
  CHECK(o.records.size() == 1);
  REQUIRE(o.allow.size() == 1);
  sockaddr_storage a{};
  auto* in = reinterpret_cast<sockaddr_in*>(&a);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(0x0a010203);
  CHECK(o.allow[0].contains(a));
  in->sin_addr.s_addr = htonl(0x7f000001);
  CHECK_FALSE(o.allow[0].contains(a));

  // a missing resolv.conf: no upstreams (misses answered SERVFAIL), not an error
  REQUIRE(dns_options_from_config(*c->dns, o, err, "/nonexistent/resolv.conf"));
  CHECK(o.upstreams.empty());
  ::unlink(resolv.c_str());
}

TEST_CASE("configured upstreams win over resolv.conf and keep their ports") {
  auto c = load("dns: { listen: \"127.0.0.1:8053\", upstreams: [\"192.0.2.1\", \"[::1]:5353\"] }\n");
  dnscache::Options o;
  std::string err;
  REQUIRE(dns_options_from_config(*c->dns, o, err, "/nonexistent"));
  REQUIRE(o.upstreams.size() == 2);
  CHECK(port_of(o.upstreams[0]) == 53);
  CHECK(port_of(o.upstreams[1]) == 5353);
  // the loader's default allow list is loopback
  CHECK(o.allow.size() == 2);
}

TEST_CASE("prepare_dns: absent section is off; a bad zone or record fails with a message") {
  std::string err;
  CHECK(prepare_dns(*load("workers: 1\n"), err) == nullptr);
  CHECK(err.empty());

  auto ok = prepare_dns(*load("dns: { listen: \"127.0.0.1:8053\", upstreams: [\"192.0.2.1\"] }\n"), err);
  CHECK(ok != nullptr);
  CHECK(err.empty());

  CHECK(prepare_dns(*load("dns: { listen: \"127.0.0.1:8053\", records: [\"bad record text\"] }\n"), err) ==
        nullptr);
  CHECK(err.rfind("dns: ", 0) == 0);

  CHECK(prepare_dns(*load("dns:\n  listen: \"127.0.0.1:8053\"\n"
                          "  zones: [ { name: example.test, file: /nonexistent/zone } ]\n"),
                    err) == nullptr);
  CHECK(err.find("/nonexistent/zone") != std::string::npos);
}

}  // namespace portico::modules
