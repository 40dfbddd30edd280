#pragma once
// Value types used by the config schema: durations, sizes, socket addresses,
// CIDR networks and source marks. Parsing functions return std::nullopt on
// bad input; the loader turns that into a located error.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico::conf {

using Duration = std::chrono::nanoseconds;
using Size = uint64_t;

// Where a value came from, for error messages: file:line:col (1-based).
struct Mark {
  int line = 0;
  int column = 0;
};

// "250ms", "10s", "5m", "1h", "1d", "1500us"; a bare number is seconds.
std::optional<Duration> parse_duration(std::string_view s);
// "512", "16KiB", "10MiB", "1GiB" (also "k"/"KB"/"M"/"MB"/"G"/"GB" as powers of 1024).
std::optional<Size> parse_size(std::string_view s);

// A socket address: IPv4, IPv6 or a unix socket path.
struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string str() const;  // "127.0.0.1:80", "[::1]:80", "unix:/path"
  bool operator==(const Address& o) const;
};

// "127.0.0.1:8080", "[::1]:8080", "unix:/run/app.sock". Port 0 is allowed
// only when allow_port_zero (listeners in tests bind port 0 rarely; we refuse it).
std::optional<Address> parse_address(std::string_view s);
// IP address with an optional port (used for DNS upstreams, default port given).
std::optional<Address> parse_ip_port(std::string_view s, uint16_t default_port);

// "10.0.0.0/8", "::1/128", or a bare address (host route).
struct Cidr {
  int family = AF_INET;
  uint8_t bytes[16] = {};
  int prefix = 0;
  bool contains(const sockaddr* sa) const;
  std::string str() const;
};
std::optional<Cidr> parse_cidr(std::string_view s);

}  // namespace portico::conf
