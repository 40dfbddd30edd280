#include "dnscache/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <string>

namespace portico::dnscache {

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  std::string_view addr = text;
  const auto slash = text.find('/');
  std::optional<unsigned> prefix;
  if (slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    const std::string_view p = text.substr(slash + 1);
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size()) return std::nullopt;
    prefix = v;
  }
  const std::string a(addr);
  if (inet_pton(AF_INET, a.c_str(), c.net_.data()) == 1) {
    c.v6_ = false;
    c.prefix_ = prefix.value_or(32);
    if (c.prefix_ > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, a.c_str(), c.net_.data()) == 1) {
    c.v6_ = true;
    c.prefix_ = prefix.value_or(128);
    if (c.prefix_ > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  // Clear host bits so matching is a plain prefix compare.
  const unsigned len = c.v6_ ? 16 : 4;
  for (unsigned i = 0; i < len; ++i) {
    const unsigned bit = i * 8;
    if (bit >= c.prefix_) {
      c.net_[i] = 0;
    } else if (c.prefix_ - bit < 8) {
      c.net_[i] &= static_cast<uint8_t>(0xff << (8 - (c.prefix_ - bit)));
    }
  }
  return c;
}

bool Cidr::matches(std::span<const uint8_t> bytes) const {
  unsigned bits = prefix_;
  for (size_t i = 0; i < bytes.size() && bits > 0; ++i) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((bytes[i] & mask) != net_[i]) return false;
    bits = bits >= 8 ? bits - 8 : 0;
  }
  return true;
}

bool Cidr::contains(const sockaddr_storage& addr) const {
  if (addr.ss_family == AF_INET) {
    if (v6_) return false;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&addr);
    uint8_t b[4];
    std::memcpy(b, &sin->sin_addr, 4);
    return matches(b);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    uint8_t b[16];
    std::memcpy(b, &sin6->sin6_addr, 16);
    if (v6_) return matches(b);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return matches(std::span<const uint8_t>(b + 12, 4));
    return false;
  }
  return false;
}

bool any_contains(std::span<const Cidr> list, const sockaddr_storage& addr) {
  for (const Cidr& c : list) {
    if (c.contains(addr)) return true;
  }
  return false;
}

}  // namespace portico::dnscache
