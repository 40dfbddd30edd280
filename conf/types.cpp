#include "conf/types.hpp"

#include <arpa/inet.h>

#include <cstddef>
#include <cstring>

namespace portico::conf {
namespace {

// Parses a run of decimal digits at the front of s into *out; false on
// overflow or when there is no digit. Advances s past the digits.
bool take_uint(std::string_view& s, uint64_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, uint64_t(s[i] - '0'), &v))
      return false;
    ++i;
  }
  if (i == 0) return false;
  s.remove_prefix(i);
  *out = v;
  return true;
}

// A port: 1..65535, decimal digits only.
bool parse_port(std::string_view s, uint16_t* out, std::string* reason) {
  uint64_t v = 0;
  std::string_view rest = s;
  if (s.empty()) {
    if (reason) *reason = "missing port";
    return false;
  }
  if (!take_uint(rest, &v) || !rest.empty()) {
    if (reason) *reason = "port '" + std::string(s) + "' is not a number";
    return false;
  }
  if (v == 0) {
    if (reason) *reason = "port 0 is not allowed";
    return false;
  }
  if (v > 65535) {
    if (reason) *reason = "port " + std::string(s) + " is out of range 1..65535";
    return false;
  }
  *out = uint16_t(v);
  return true;
}

bool looks_like_hostname(std::string_view h) {
  for (char c : h)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return false;
}

void set_v4(Address& a, const in_addr& ip, uint16_t port) {
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
  sin->sin_family = AF_INET;
  sin->sin_addr = ip;
  sin->sin_port = htons(port);
  a.len = sizeof(sockaddr_in);
}

void set_v6(Address& a, const in6_addr& ip, uint16_t port) {
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = ip;
  sin6->sin6_port = htons(port);
  a.len = sizeof(sockaddr_in6);
}

// Splits "host:port" / "[v6]:port" / "host" / "[v6]" into host and port.
// has_port tells whether a ":port" part was present.
bool split_host_port(std::string_view s, std::string_view* host, std::string_view* port,
                     bool* has_port, bool* bracketed, std::string* reason) {
  *has_port = false;
  *bracketed = false;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) {
      if (reason) *reason = "missing ']' after IPv6 address";
      return false;
    }
    *host = s.substr(1, close - 1);
    *bracketed = true;
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest[0] != ':') {
      if (reason) *reason = "unexpected text after ']'";
      return false;
    }
    *port = rest.substr(1);
    *has_port = true;
    return true;
  }
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    *host = s;
    return true;
  }
  if (s.find(':') != colon) {
    // More than one colon: an IPv6 address, which needs brackets with a port.
    *host = s;
    return true;
  }
  *host = s.substr(0, colon);
  *port = s.substr(colon + 1);
  *has_port = true;
  return true;
}

std::optional<Address> parse_ip(std::string_view host, uint16_t port, bool bracketed,
                                std::string* reason) {
  Address a;
  std::string h(host);
  if (h.empty()) {
    if (reason) *reason = "missing IP address";
    return std::nullopt;
  }
  in_addr v4{};
  in6_addr v6{};
  if (!bracketed && inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    set_v4(a, v4, port);
    return a;
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    set_v6(a, v6, port);
    return a;
  }
  if (reason) {
    if (!bracketed && looks_like_hostname(h))
      *reason = "'" + h + "' is not an IP address (host names are not resolved here)";
    else
      *reason = "'" + h + "' is not a valid IP address";
  }
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view s) {
  uint64_t n = 0;
  std::string_view rest = s;
  if (!take_uint(rest, &n)) return std::nullopt;
  uint64_t unit_ns;  // nanoseconds per unit
  if (rest.empty() || rest == "s") unit_ns = 1'000'000'000ull;
  else if (rest == "ns") unit_ns = 1;
  else if (rest == "us") unit_ns = 1'000ull;
  else if (rest == "ms") unit_ns = 1'000'000ull;
  else if (rest == "m") unit_ns = 60ull * 1'000'000'000ull;
  else if (rest == "h") unit_ns = 3600ull * 1'000'000'000ull;
  else if (rest == "d") unit_ns = 86400ull * 1'000'000'000ull;
  else return std::nullopt;
  uint64_t ns = 0;
  if (__builtin_mul_overflow(n, unit_ns, &ns) || ns > uint64_t(INT64_MAX)) return std::nullopt;
  return Duration(int64_t(ns));
}

std::optional<Size> parse_size(std::string_view s) {
  uint64_t n = 0;
  std::string_view rest = s;
  if (!take_uint(rest, &n)) return std::nullopt;
  unsigned shift;
  if (rest.empty() || rest == "B") shift = 0;
  else if (rest == "k" || rest == "K" || rest == "KB" || rest == "kB" || rest == "KiB") shift = 10;
  else if (rest == "M" || rest == "MB" || rest == "MiB") shift = 20;
  else if (rest == "G" || rest == "GB" || rest == "GiB") shift = 30;
  else if (rest == "T" || rest == "TB" || rest == "TiB") shift = 40;
  else return std::nullopt;
  if (shift > 0 && n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

uint16_t Address::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string Address::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    std::string out = "[";
    out.append(buf).append("]:").append(std::to_string(port()));
    return out;
  }
  if (family() == AF_UNIX) return "unix:" + unix_path();
  return "(none)";
}

std::string Address::unix_path() const {
  if (family() != AF_UNIX || len <= offsetof(sockaddr_un, sun_path)) return {};
  auto* sun = reinterpret_cast<const sockaddr_un*>(&storage);
  size_t n = len - offsetof(sockaddr_un, sun_path);
  return std::string(sun->sun_path, strnlen(sun->sun_path, n));
}

bool Address::operator==(const Address& o) const {
  if (family() != o.family()) return false;
  if (family() == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    auto* b = reinterpret_cast<const sockaddr_in*>(&o.storage);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    auto* b = reinterpret_cast<const sockaddr_in6*>(&o.storage);
    return a->sin6_port == b->sin6_port &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(in6_addr)) == 0;
  }
  if (family() == AF_UNIX) return unix_path() == o.unix_path();
  return len == o.len;
}

std::optional<Address> parse_address(std::string_view s, std::string* reason) {
  if (s.substr(0, 5) == "unix:") {
    std::string_view path = s.substr(5);
    if (path.empty()) {
      if (reason) *reason = "empty unix socket path";
      return std::nullopt;
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      if (reason)
        *reason = "unix socket path is too long (" + std::to_string(path.size()) + " bytes, at most " +
                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + ")";
      return std::nullopt;
    }
    if (path.find('\0') != std::string_view::npos) {
      if (reason) *reason = "unix socket path contains a NUL byte";
      return std::nullopt;
    }
    Address a;
    auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path.data(), path.size());
    a.len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    return a;
  }
  std::string_view host, port;
  bool has_port = false, bracketed = false;
  if (!split_host_port(s, &host, &port, &has_port, &bracketed, reason)) return std::nullopt;
  if (!has_port) {
    // Say the more useful thing first: a bad host beats a missing port.
    if (!parse_ip(host, 0, bracketed, reason)) return std::nullopt;
    if (reason) *reason = "missing port";
    return std::nullopt;
  }
  uint16_t p = 0;
  if (!parse_port(port, &p, reason)) return std::nullopt;
  return parse_ip(host, p, bracketed, reason);
}

std::optional<Address> parse_address(std::string_view s) { return parse_address(s, nullptr); }

std::optional<Address> parse_ip_port(std::string_view s, uint16_t default_port, std::string* reason) {
  std::string_view host, port;
  bool has_port = false, bracketed = false;
  if (!split_host_port(s, &host, &port, &has_port, &bracketed, reason)) return std::nullopt;
  uint16_t p = default_port;
  if (has_port && !parse_port(port, &p, reason)) return std::nullopt;
  if (p == 0) {
    if (reason) *reason = "port 0 is not allowed";
    return std::nullopt;
  }
  return parse_ip(host, p, bracketed, reason);
}

std::optional<Address> parse_ip_port(std::string_view s, uint16_t default_port) {
  return parse_ip_port(s, default_port, nullptr);
}

namespace {
bool prefix_equal(const uint8_t* a, const uint8_t* b, int prefix) {
  int full = prefix / 8;
  if (memcmp(a, b, size_t(full)) != 0) return false;
  int rem = prefix % 8;
  if (rem == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rem));
  return (a[full] & mask) == (b[full] & mask);
}
constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}  // namespace

bool Cidr::contains(const sockaddr* sa) const {
  if (sa == nullptr) return false;
  uint8_t addr[16] = {};
  int fam = sa->sa_family;
  if (fam == AF_INET) {
    memcpy(addr, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (fam == AF_INET6) {
    memcpy(addr, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  } else {
    return false;
  }
  if (fam == family) return prefix_equal(addr, bytes, prefix);
  if (family == AF_INET && fam == AF_INET6) {
    // ::ffff:a.b.c.d matches a v4 network.
    if (memcmp(addr, kV4MappedPrefix, 12) != 0) return false;
    return prefix_equal(addr + 12, bytes, prefix);
  }
  // A v4 client against a v6 network: compare its v4-mapped form.
  uint8_t mapped[16];
  memcpy(mapped, kV4MappedPrefix, 12);
  memcpy(mapped + 12, addr, 4);
  return prefix_equal(mapped, bytes, prefix);
}

std::string Cidr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::optional<Cidr> parse_cidr(std::string_view s) {
  Cidr c;
  std::string_view addr = s, len;
  size_t slash = s.find('/');
  bool has_len = slash != std::string_view::npos;
  if (has_len) {
    addr = s.substr(0, slash);
    len = s.substr(slash + 1);
  }
  std::string a(addr);
  int max;
  if (inet_pton(AF_INET, a.c_str(), c.bytes) == 1) {
    c.family = AF_INET;
    max = 32;
  } else if (inet_pton(AF_INET6, a.c_str(), c.bytes) == 1) {
    c.family = AF_INET6;
    max = 128;
  } else {
    return std::nullopt;
  }
  c.prefix = max;
  if (has_len) {
    uint64_t v = 0;
    std::string_view rest = len;
    if (!take_uint(rest, &v) || !rest.empty() || v > uint64_t(max) || len.size() > 3)
      return std::nullopt;
    c.prefix = int(v);
  }
  // Clear host bits so contains() and str() see the network.
  int nbytes = max / 8;
  for (int i = 0; i < nbytes; ++i) {
    int bits_in = c.prefix - i * 8;
    if (bits_in >= 8) continue;
    c.bytes[i] = bits_in <= 0 ? 0 : uint8_t(c.bytes[i] & uint8_t(0xff << (8 - bits_in)));
  }
  return c;
}

}  // namespace portico::conf
