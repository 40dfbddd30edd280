#include "proxy/l4/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace portico::l4 {

namespace {

constexpr uint8_t kV2Sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV1Min = 15;  // "PROXY UNKNOWN\r\n"

ProxyParse invalid(const char* why) {
  ProxyParse p;
  p.state = ProxyParse::State::kInvalid;
  p.error = why;
  return p;
}
ProxyParse need(size_t n) {
  ProxyParse p;
  p.want = n;
  return p;
}
ProxyParse done(size_t len) {
  ProxyParse p;
  p.state = ProxyParse::State::kDone;
  p.length = len;
  return p;
}

bool parse_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

bool parse_ip(std::string_view s, int family, uint16_t port, sockaddr_storage& out) {
  char tmp[64];
  if (s.empty() || s.size() >= sizeof tmp) return false;
  std::memcpy(tmp, s.data(), s.size());
  tmp[s.size()] = 0;
  std::memset(&out, 0, sizeof out);
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    return inet_pton(AF_INET, tmp, &a->sin_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  return inet_pton(AF_INET6, tmp, &a->sin6_addr) == 1;
}

ProxyParse parse_v1(const uint8_t* buf, size_t have, ProxyHeader& out) {
  std::string_view s(reinterpret_cast<const char*>(buf), have);
  size_t lf = s.find('\n');
  if (lf == std::string_view::npos) {
    if (have >= kProxyV1Max) return invalid("PROXY v1 line too long");
    if (s.find('\r') != std::string_view::npos && s.back() != '\r') return invalid("bare CR in PROXY v1 line");
    return need(have < kV1Min ? kV1Min - have : 1);
  }
  if (lf + 1 != have) return invalid("bytes after the PROXY v1 line");
  if (lf == 0 || s[lf - 1] != '\r') return invalid("PROXY v1 line must end in CRLF");
  std::string_view line = s.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  std::string_view f[6];
  size_t n = 0;
  while (!line.empty()) {
    if (n == 6) return invalid("too many fields in PROXY v1 line");
    size_t sp = line.find(' ');
    f[n++] = line.substr(0, sp);
    if (f[n - 1].empty()) return invalid("empty field in PROXY v1 line");
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
    if (line.empty()) return invalid("trailing space in PROXY v1 line");
  }
  if (n >= 1 && f[0] == "UNKNOWN") {
    out.local = true;
    return done(have);
  }
  if (n != 5 || (f[0] != "TCP4" && f[0] != "TCP6")) return invalid("malformed PROXY v1 line");
  const int fam = f[0] == "TCP4" ? AF_INET : AF_INET6;
  uint16_t sport, dport;
  if (!parse_port(f[3], sport) || !parse_port(f[4], dport)) return invalid("bad port in PROXY v1 line");
  if (!parse_ip(f[1], fam, sport, out.src) || !parse_ip(f[2], fam, dport, out.dst))
    return invalid("bad address in PROXY v1 line");
  out.local = false;
  return done(have);
}

ProxyParse parse_v2(const uint8_t* buf, size_t have, ProxyHeader& out) {
  if (have < 16) return need(16 - have);
  const uint8_t ver_cmd = buf[12];
  if ((ver_cmd >> 4) != 2) return invalid("PROXY v2: bad version");
  const uint8_t cmd = ver_cmd & 0x0F;
  if (cmd > 1) return invalid("PROXY v2: bad command");
  const size_t len = (static_cast<size_t>(buf[14]) << 8) | buf[15];
  if (16 + len > kProxyHeaderMax) return invalid("PROXY v2: header too long");
  if (have < 16 + len) return need(16 + len - have);
  if (have != 16 + len) return invalid("PROXY v2: bytes after the header");
  const uint8_t fam = buf[13] >> 4;
  const uint8_t proto = buf[13] & 0x0F;
  out.local = true;
  if (cmd == 0) return done(have);  // LOCAL: health check from the proxy itself
  if (proto != 1 && proto != 0 && proto != 2) return invalid("PROXY v2: bad transport");
  const uint8_t* a = buf + 16;
  if (fam == 1) {
    if (len < 12) return invalid("PROXY v2: short IPv4 address block");
    auto* s = reinterpret_cast<sockaddr_in*>(&out.src);
    auto* d = reinterpret_cast<sockaddr_in*>(&out.dst);
    std::memset(&out.src, 0, sizeof out.src);
    std::memset(&out.dst, 0, sizeof out.dst);
    s->sin_family = d->sin_family = AF_INET;
    std::memcpy(&s->sin_addr, a, 4);
    std::memcpy(&d->sin_addr, a + 4, 4);
    std::memcpy(&s->sin_port, a + 8, 2);
    std::memcpy(&d->sin_port, a + 10, 2);
    out.local = false;
  } else if (fam == 2) {
    if (len < 36) return invalid("PROXY v2: short IPv6 address block");
    auto* s = reinterpret_cast<sockaddr_in6*>(&out.src);
    auto* d = reinterpret_cast<sockaddr_in6*>(&out.dst);
    std::memset(&out.src, 0, sizeof out.src);
    std::memset(&out.dst, 0, sizeof out.dst);
    s->sin6_family = d->sin6_family = AF_INET6;
    std::memcpy(&s->sin6_addr, a, 16);
    std::memcpy(&d->sin6_addr, a + 16, 16);
    std::memcpy(&s->sin6_port, a + 32, 2);
    std::memcpy(&d->sin6_port, a + 34, 2);
    out.local = false;
  } else if (fam > 3) {
    return invalid("PROXY v2: bad address family");
  }
  return done(have);  // AF_UNSPEC / AF_UNIX: keep the real peer
}

bool ip_pair(const sockaddr* src, const sockaddr* dst) {
  return src && dst && src->sa_family == dst->sa_family &&
         (src->sa_family == AF_INET || src->sa_family == AF_INET6);
}

}  // namespace

ProxyParse parse_proxy_header(const uint8_t* buf, size_t have, ProxyHeader& out) {
  if (have == 0) return need(kV1Min);  // both forms are at least 15 bytes
  const size_t cmp1 = std::min(have, kV1Prefix.size());
  if (std::memcmp(buf, kV1Prefix.data(), cmp1) == 0) {
    if (have < kV1Prefix.size()) return need(kV1Prefix.size() - have);
    return parse_v1(buf, have, out);
  }
  const size_t cmp2 = std::min(have, sizeof kV2Sig);
  if (std::memcmp(buf, kV2Sig, cmp2) == 0) return parse_v2(buf, have, out);
  return invalid("no PROXY protocol header");
}

size_t build_proxy_v1(const sockaddr* src, const sockaddr* dst, char* out, size_t cap) {
  int n;
  if (!ip_pair(src, dst)) {
    n = std::snprintf(out, cap, "PROXY UNKNOWN\r\n");
  } else {
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    uint16_t sp, dp;
    if (src->sa_family == AF_INET) {
      auto* a = reinterpret_cast<const sockaddr_in*>(src);
      auto* b = reinterpret_cast<const sockaddr_in*>(dst);
      inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
      inet_ntop(AF_INET, &b->sin_addr, d, sizeof d);
      sp = ntohs(a->sin_port);
      dp = ntohs(b->sin_port);
    } else {
      auto* a = reinterpret_cast<const sockaddr_in6*>(src);
      auto* b = reinterpret_cast<const sockaddr_in6*>(dst);
      inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof s);
      inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof d);
      sp = ntohs(a->sin6_port);
      dp = ntohs(b->sin6_port);
    }
    n = std::snprintf(out, cap, "PROXY %s %s %s %u %u\r\n", src->sa_family == AF_INET ? "TCP4" : "TCP6", s, d,
                      sp, dp);
  }
  return n > 0 && static_cast<size_t>(n) < cap ? static_cast<size_t>(n) : 0;
}

size_t build_proxy_v2(const sockaddr* src, const sockaddr* dst, uint8_t* out, size_t cap) {
  const bool ip = ip_pair(src, dst);
  const bool v4 = ip && src->sa_family == AF_INET;
  const size_t alen = !ip ? 0 : v4 ? 12 : 36;
  if (cap < 16 + alen) return 0;
  std::memcpy(out, kV2Sig, sizeof kV2Sig);
  out[12] = ip ? 0x21 : 0x20;  // version 2, PROXY / LOCAL
  out[13] = !ip ? 0x00 : v4 ? 0x11 : 0x21;  // TCP over IPv4 / IPv6
  out[14] = 0;
  out[15] = static_cast<uint8_t>(alen);
  uint8_t* a = out + 16;
  if (v4) {
    auto* s = reinterpret_cast<const sockaddr_in*>(src);
    auto* d = reinterpret_cast<const sockaddr_in*>(dst);
    std::memcpy(a, &s->sin_addr, 4);
    std::memcpy(a + 4, &d->sin_addr, 4);
    std::memcpy(a + 8, &s->sin_port, 2);
    std::memcpy(a + 10, &d->sin_port, 2);
  } else if (ip) {
    auto* s = reinterpret_cast<const sockaddr_in6*>(src);
    auto* d = reinterpret_cast<const sockaddr_in6*>(dst);
    std::memcpy(a, &s->sin6_addr, 16);
    std::memcpy(a + 16, &d->sin6_addr, 16);
    std::memcpy(a + 32, &s->sin6_port, 2);
    std::memcpy(a + 34, &d->sin6_port, 2);
  }
  return 16 + alen;
}

}  // namespace portico::l4
