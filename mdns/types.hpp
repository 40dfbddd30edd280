#pragma once
// Value types shared by the mDNS engine and its glue: time, addresses, packets in and out,
// browse results. Plain data, no ownership rules; used on the worker that owns the Engine.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::mdns {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;  // the glue passes Clock::now(); tests pass a fake time
using Duration = std::chrono::milliseconds;
inline constexpr Time kNever = Time::max();

inline constexpr uint16_t kMdnsPort = 5353;

// An IPv4 or IPv6 address in network byte order (IPv4 uses the first 4 bytes).
struct IpAddress {
  uint8_t family = 0;  // 4 or 6; 0 = none
  std::array<uint8_t, 16> bytes{};

  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  static IpAddress v6(const std::array<uint8_t, 16>& b);
  static std::optional<IpAddress> parse(std::string_view text);  // "192.0.2.1" or "fe80::1"
  std::string to_string() const;
  size_t size() const { return family == 4 ? 4 : family == 6 ? 16 : 0; }
  bool is_v4() const { return family == 4; }
  bool is_v6() const { return family == 6; }
  auto operator<=>(const IpAddress&) const = default;
};

// An address and a UDP port.
struct Endpoint {
  IpAddress addr;
  uint16_t port = 0;
  auto operator<=>(const Endpoint&) const = default;
};

// Where an outgoing packet goes: the mDNS group of one family, or one unicast peer.
struct Destination {
  enum class Kind : uint8_t { kMulticastV4, kMulticastV6, kUnicast };
  Kind kind = Kind::kMulticastV4;
  Endpoint unicast;  // only for kUnicast

  static Destination multicast(uint8_t family) {
    return {family == 6 ? Kind::kMulticastV6 : Kind::kMulticastV4, {}};
  }
  static Destination to(const Endpoint& e) { return {Kind::kUnicast, e}; }
  // 224.0.0.251:5353 or [ff02::fb]:5353 for the multicast kinds.
  Endpoint endpoint() const;
  bool operator==(const Destination&) const = default;
};

// One outgoing datagram: send `bytes` on interface `ifindex` to `dst`.
struct Packet {
  std::vector<uint8_t> bytes;
  uint32_t ifindex = 0;
  Destination dst;
};

// What the glue knows about a received datagram.
struct Source {
  Endpoint from;              // source address and port
  uint32_t ifindex = 0;       // receiving interface
  int ttl = -1;               // IPv4 TTL / IPv6 hop limit; -1 = unknown
  bool on_link = false;       // the source address is on the receiving interface's link
  bool to_multicast = true;   // sent to the mDNS group (false: unicast to us)
};

// One TXT entry; `has_value` false means a boolean attribute ("key" without '=').
struct TxtEntry {
  std::string key;
  std::string value;
  bool has_value = true;
  bool operator==(const TxtEntry&) const = default;
};

// A resolved service instance found by the browser.
struct Instance {
  uint32_t ifindex = 0;
  std::string name;      // instance label, e.g. "Portico web"
  std::string type;      // e.g. "_http._tcp"
  std::string host;      // SRV target, e.g. "portico.local"
  uint16_t port = 0;
  uint16_t priority = 0;
  uint16_t weight = 0;
  std::vector<IpAddress> addresses;  // sorted
  std::vector<TxtEntry> txt;         // without the "sig" entry
  bool signature_verified = false;   // true when trusted keys are configured and one matched
  bool operator==(const Instance&) const = default;
};

struct BrowseEvent {
  enum class Kind : uint8_t { kAdded, kUpdated, kRemoved };
  Kind kind = Kind::kAdded;
  Instance instance;
};

// Output of every Engine call. The caller clears it (or not) between calls; the engine
// appends packets and events and overwrites next_wakeup.
struct Actions {
  std::vector<Packet> out;
  Time next_wakeup = kNever;
  std::vector<BrowseEvent> events;
  void clear() {
    out.clear();
    events.clear();
    next_wakeup = kNever;
  }
};

}  // namespace portico::mdns
