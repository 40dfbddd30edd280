#include "proxy/upstream/hash.hpp"

#include <netinet/in.h>

#include <cstring>

namespace portico::upstream {

uint64_t hash_bytes(const void* data, size_t len, uint64_t seed) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  uint64_t h = seed ^ (len * m);
  const auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* end = p + (len & ~size_t{7});
  for (; p != end; p += 8) {
    uint64_t k;
    std::memcpy(&k, p, 8);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  switch (len & 7) {
    case 7: h ^= uint64_t(p[6]) << 48; [[fallthrough]];
    case 6: h ^= uint64_t(p[5]) << 40; [[fallthrough]];
    case 5: h ^= uint64_t(p[4]) << 32; [[fallthrough]];
    case 4: h ^= uint64_t(p[3]) << 24; [[fallthrough]];
    case 3: h ^= uint64_t(p[2]) << 16; [[fallthrough]];
    case 2: h ^= uint64_t(p[1]) << 8; [[fallthrough]];
    case 1:
      h ^= uint64_t(p[0]);
      h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

uint64_t hash_client_ip(const sockaddr* sa) {
  if (sa == nullptr) return 0;
  if (sa->sa_family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(sa);
    return hash_bytes(&s->sin_addr, 4);
  }
  if (sa->sa_family == AF_INET6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) return hash_bytes(&s->sin6_addr.s6_addr[12], 4);
    return hash_bytes(&s->sin6_addr, 16);
  }
  return 0;
}

std::optional<std::string_view> find_cookie(std::string_view h, std::string_view name) {
  if (name.empty()) return std::nullopt;
  size_t pos = 0;
  while (pos < h.size()) {
    size_t end = h.find(';', pos);
    if (end == std::string_view::npos) end = h.size();
    std::string_view pair = h.substr(pos, end - pos);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      std::string_view n = pair.substr(0, eq);
      while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
      if (n == name) {
        std::string_view v = pair.substr(eq + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        return v;
      }
    }
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace portico::upstream
