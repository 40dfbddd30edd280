#pragma once
// An IPv4 or IPv6 network (address/prefix) for the dnscache allow list.
// Immutable value; any thread.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace portico::dnscache {

class Cidr {
 public:
  // "10.0.0.0/8", "::1/128", or a bare address (full-length prefix).
  // nullopt on a bad address or prefix length.
  static std::optional<Cidr> parse(std::string_view text);

  // True when `addr` (AF_INET or AF_INET6) lies in this network. IPv4-mapped IPv6
  // addresses (::ffff:a.b.c.d) match IPv4 networks.
  bool contains(const sockaddr_storage& addr) const;

  bool is_v6() const { return v6_; }
  unsigned prefix() const { return prefix_; }

 private:
  bool matches(std::span<const uint8_t> bytes) const;

  std::array<uint8_t, 16> net_{};
  unsigned prefix_ = 0;
  bool v6_ = false;
};

// True when some network in `list` contains `addr`.
bool any_contains(std::span<const Cidr> list, const sockaddr_storage& addr);

}  // namespace portico::dnscache
