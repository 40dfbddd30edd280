#include "proxy/modules/dns_options.hpp"

#include <netdb.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dnscache/engine.hpp"
#include "dnscache/random.hpp"

namespace portico::modules {

namespace {

constexpr size_t kMaxResolvConf = 64 * 1024;  // a resolv.conf is a few lines

std::chrono::seconds to_seconds(conf::Duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

bool read_small_file(const char* path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.resize(kMaxResolvConf);
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(f.gcount()));
  return true;
}

}  // namespace

std::vector<sockaddr_storage> parse_resolv_conf(std::string_view text) {
  std::vector<sockaddr_storage> out;
  size_t pos = 0;
  while (pos < text.size() && out.size() < dnscache::kMaxUpstreams) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::istringstream line{std::string(text.substr(pos, eol - pos))};
    pos = eol + 1;
    std::string key, value;
    if (!(line >> key >> value) || key != "nameserver") continue;
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(value.c_str(), "53", &hints, &res) != 0 || !res) continue;
    if (res->ai_addrlen <= sizeof(sockaddr_storage) &&
        (res->ai_family == AF_INET || res->ai_family == AF_INET6)) {
      sockaddr_storage ss{};
      std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
      out.push_back(ss);
    }
    ::freeaddrinfo(res);
  }
  return out;
}

bool dns_options_from_config(const conf::Dns& d, dnscache::Options& o, std::string& err,
                             const char* resolv_conf) {
  o = dnscache::Options{};
  if (!d.upstreams.empty()) {
    for (const conf::Address& a : d.upstreams) o.upstreams.push_back(a.storage);
  } else {
    std::string text;
    if (read_small_file(resolv_conf, text)) o.upstreams = parse_resolv_conf(text);
  }
  if (o.upstreams.size() > dnscache::kMaxUpstreams) {
    err = "dns.upstreams: at most " + std::to_string(dnscache::kMaxUpstreams) + " upstreams";
    return false;
  }
  o.max_entries = static_cast<size_t>(d.cache.max_entries);
  o.min_ttl = to_seconds(d.cache.min_ttl);
  o.max_ttl = to_seconds(d.cache.max_ttl);
  o.negative_ttl = to_seconds(d.cache.negative_ttl);
  o.serve_stale = to_seconds(d.cache.serve_stale);
  o.prefetch = d.cache.prefetch;
  o.upstream_timeout = std::max(std::chrono::milliseconds(1),
                                std::chrono::duration_cast<std::chrono::milliseconds>(d.upstream_timeout));
  // A TCP attempt includes the connect: twice the UDP timeout, at least the engine default.
  o.upstream_tcp_timeout = std::max(o.upstream_tcp_timeout, 2 * o.upstream_timeout);
  for (const conf::DnsZone& z : d.zones) o.zones.push_back({z.name, z.file});
  o.records = d.records;
  o.allow.clear();
  for (const conf::Cidr& c : d.allow) {
    auto cidr = dnscache::Cidr::parse(c.str());
    if (!cidr) {
      err = "dns.allow: cannot use network " + c.str();
      return false;
    }
    o.allow.push_back(*cidr);
  }
  return true;
}

std::shared_ptr<const dnscache::Options> prepare_dns(const conf::Config& c, std::string& err) {
  err.clear();
  if (!c.dns) return nullptr;
  auto o = std::make_shared<dnscache::Options>();
  if (!dns_options_from_config(*c.dns, *o, err)) return nullptr;
  // Loads every zone and record once here, so a bad one fails start-up or the
  // reload instead of a worker.
  dnscache::SeededRandom rng(1);
  std::string why;
  if (!dnscache::Engine::create(*o, rng, why)) {
    err = "dns: " + why;
    return nullptr;
  }
  return o;
}

}  // namespace portico::modules
