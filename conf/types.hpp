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

// "250ms", "10s", "5m", "1h", "1d", "1500us", "20ns"; a bare number is seconds.
// Whole numbers only; negatives, garbage and overflow give nullopt.
std::optional<Duration> parse_duration(std::string_view s);
// "512", "16KiB", "10MiB", "1GiB" (also "k"/"KB"/"M"/"MB"/"G"/"GB"/"T"/"TB"/"TiB"
// and "B", all powers of 1024). Overflow gives nullopt.
std::optional<Size> parse_size(std::string_view s);

// A socket address: IPv4, IPv6 or a unix socket path.
struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string str() const;  // "127.0.0.1:80", "[::1]:80", "unix:/path"
  std::string unix_path() const;  // the path of a unix address, else ""
  bool operator==(const Address& o) const;
};

// "127.0.0.1:8080", "[::1]:8080", "unix:/run/app.sock". IP literals only (no
// host names); the port is required and 1..65535 (port 0 is refused); a unix
// path must fit sockaddr_un::sun_path with its NUL. The overload with reason
// says why on failure ("missing port", "port 0 is not allowed", ...).
std::optional<Address> parse_address(std::string_view s);
std::optional<Address> parse_address(std::string_view s, std::string* reason);
// IP address with an optional port (used for DNS upstreams, default port given):
// "1.2.3.4", "1.2.3.4:53", "::1", "[::1]", "[::1]:53".
std::optional<Address> parse_ip_port(std::string_view s, uint16_t default_port);
std::optional<Address> parse_ip_port(std::string_view s, uint16_t default_port,
                                     std::string* reason);

// "10.0.0.0/8", "::1/128", or a bare address (host route). Host bits are
// cleared. contains() matches a v4-mapped v6 client (::ffff:a.b.c.d) against
// a v4 network, and a v4 client against a v6 network via its mapped form.
struct Cidr {
  int family = AF_INET;
  uint8_t bytes[16] = {};
  int prefix = 0;
  bool contains(const sockaddr* sa) const;
  std::string str() const;
};
std::optional<Cidr> parse_cidr(std::string_view s);

}  // namespace portico::conf
