#include "proxy/modules/mdns_options.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "mdns/signing.hpp"

namespace portico::modules {

namespace {

constexpr size_t kMaxKeyFile = 64 * 1024;

bool read_small_file(const std::string& path, std::string& out, std::string& err) {
  FILE* f = std::fopen(path.c_str(), "rbe");
  if (!f) {
    err = path + ": " + std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
    if (out.size() > kMaxKeyFile) {
      std::fclose(f);
      err = path + ": larger than 64 KiB, not a key file";
      return false;
    }
  }
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) err = path + ": read error";
  return !bad;
}

std::string ascii_lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

bool loopback(const conf::Address& a) {
  if (a.family() == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.family() == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
  }
  return true;  // unix sockets are not reachable from the network
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string clip_utf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

}  // namespace

bool same_service(const mdns::ServiceConfig& a, const mdns::ServiceConfig& b) {
  return a.instance == b.instance && a.type == b.type && a.subtypes == b.subtypes && a.port == b.port &&
         a.txt == b.txt && a.priority == b.priority && a.weight == b.weight;
}

std::vector<mdns::ServiceConfig> advertised_listeners(const conf::Config& c) {
  std::vector<mdns::ServiceConfig> out;
  if (!c.mdns || !c.mdns->advertise_listeners) return out;
  for (const auto& l : c.listeners) {
    if (l.protocol != conf::Protocol::kHttp || l.tls || loopback(l.bind)) continue;
    mdns::ServiceConfig s;
    s.instance = clip_utf8(c.mdns->hostname + " " + l.name, 63);
    s.type = "_http._tcp";
    s.port = l.bind.port();
    out.push_back(std::move(s));
  }
  return out;
}

bool build_mdns_options(const conf::Config& c, mdns::Options& o, std::string& err) {
  if (!c.mdns) {
    err = "no mdns section";
    return false;
  }
  const conf::Mdns& m = *c.mdns;
  o = mdns::Options{};
  o.hostname = m.hostname;
  o.ipv4 = m.ipv4;
  o.ipv6 = m.ipv6;
  o.browse = m.browse;
  for (const auto& s : m.services) {
    mdns::ServiceConfig svc;
    svc.instance = s.name;
    svc.type = s.type;
    svc.subtypes = s.subtypes;
    svc.port = s.port;
    svc.priority = s.priority;
    svc.weight = s.weight;
    for (const auto& [k, v] : s.txt) svc.txt.push_back({k, v, true});
    o.services.push_back(std::move(svc));
  }
  // DNS names compare case-insensitively: two services with the same name and type are one
  // name on the network (an explicit service wins over an advertised listener).
  auto same_name = [](const mdns::ServiceConfig& a, const mdns::ServiceConfig& b) {
    return ascii_lower(a.instance) == ascii_lower(b.instance) && ascii_lower(a.type) == ascii_lower(b.type);
  };
  for (size_t i = 0; i < o.services.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (same_name(o.services[i], o.services[j])) {
        err = "mdns.services: two services named '" + o.services[i].instance + "' of type " + o.services[i].type;
        return false;
      }
  for (auto& svc : advertised_listeners(c)) {
    bool dup = false;
    for (const auto& s : o.services) dup |= same_name(s, svc);
    if (!dup) o.services.push_back(std::move(svc));
  }
  if (m.signing) {
    std::string pem;
    if (m.signing->key) {
      if (!read_small_file(*m.signing->key, pem, err)) {
        err = "mdns.signing.key: " + err;
        return false;
      }
      o.signing.private_key = mdns::private_key_from_pem(pem);
      if (!o.signing.private_key) {
        err = "mdns.signing.key: " + *m.signing->key + ": not an Ed25519 private key (PKCS#8 PEM)";
        return false;
      }
    }
    for (const auto& path : m.signing->trusted_keys) {
      if (!read_small_file(path, pem, err)) {
        err = "mdns.signing.trusted_keys: " + err;
        return false;
      }
      auto key = mdns::public_key_from_pem(pem);
      if (!key) {
        // A file holding the raw key in base64 (one line) is accepted too.
        std::string b64 = pem;
        while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r' || b64.back() == ' ')) b64.pop_back();
        key = mdns::public_key_from_base64(b64);
      }
      if (!key) {
        err = "mdns.signing.trusted_keys: " + path + ": not an Ed25519 public key (SPKI PEM or base64)";
        return false;
      }
      o.signing.trusted_keys.push_back(*key);
    }
  }
  std::string why = mdns::validate(o);
  if (!why.empty()) {
    err = "mdns: " + why;
    return false;
  }
  return true;
}

bool same_except_services(const mdns::Options& a, const mdns::Options& b) {
  return a.hostname == b.hostname && a.ipv4 == b.ipv4 && a.ipv6 == b.ipv6 && a.browse == b.browse &&
         a.signing.private_key == b.signing.private_key && a.signing.trusted_keys == b.signing.trusted_keys;
}

bool same_settings(const mdns::Options& a, const mdns::Options& b) {
  if (!same_except_services(a, b) || a.services.size() != b.services.size()) return false;
  for (size_t i = 0; i < a.services.size(); ++i)
    if (!same_service(a.services[i], b.services[i])) return false;
  return true;
}

}  // namespace portico::modules
