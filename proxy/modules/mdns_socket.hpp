#pragma once
// System side of the mdns module: which interfaces to use (getifaddrs), the multicast
// sockets (224.0.0.251 / ff02::fb port 5353) and the control messages of received and sent
// datagrams. Plain syscalls, no state; called on the worker that runs the mdns module.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mdns/types.hpp"

namespace portico::modules {

struct IpPrefix {
  mdns::IpAddress net;
  int length = 0;
  bool contains(const mdns::IpAddress& a) const;
  bool operator==(const IpPrefix&) const = default;
};

// One interface mDNS runs on: index, name, its addresses (published as A/AAAA) and the
// prefixes they sit in (the on-link check of received packets).
struct MdnsInterface {
  uint32_t index = 0;
  std::string name;
  std::vector<mdns::IpAddress> addresses;  // sorted, of the enabled families only
  std::vector<IpPrefix> prefixes;
  bool operator==(const MdnsInterface&) const = default;
};

// The interfaces to use, sorted by index. `names` empty = every interface that is up,
// multicast-capable and not loopback; otherwise exactly those named that exist and are up
// (names not found are listed in `missing`). Only interfaces with at least one address of an
// enabled family are returned. Returns false with `err` if getifaddrs fails.
bool scan_interfaces(const std::vector<std::string>& names, bool ipv4, bool ipv6,
                     std::vector<MdnsInterface>& out, std::vector<std::string>& missing,
                     std::string& err);

// RFC 6762 11: a source is on-link if it is in one of the interface's prefixes, or an
// IPv4 (169.254/16) or IPv6 (fe80::/10) link-local address.
bool on_link(const MdnsInterface& iface, const mdns::IpAddress& src);

// A non-blocking UDP socket bound to port 5353 of the wildcard address (AF_INET or AF_INET6,
// v6-only), SO_REUSEADDR + SO_REUSEPORT, multicast TTL / hop limit 255 (unicast too),
// multicast loopback on (the engine recognises its own records), receiving the
// destination/interface (IP_PKTINFO / IPV6_RECVPKTINFO) and the TTL / hop limit.
// `port` is 5353 except in tests. Returns -1 with `err` set on failure.
int open_mdns_socket(int family, uint16_t port, std::string& err);

// Joins or leaves the mDNS group on one interface (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP).
bool join_group(int fd, int family, uint32_t ifindex, std::string& err);
void leave_group(int fd, int family, uint32_t ifindex);
// Makes `ifindex` the default outgoing interface for multicast (IP_MULTICAST_IF /
// IPV6_MULTICAST_IF); each send also names its interface in IP_PKTINFO / IPV6_PKTINFO.
void set_multicast_interface(int fd, int family, uint32_t ifindex);

// What the control messages and addresses of one received datagram say.
struct ReceivedInfo {
  mdns::Endpoint from;
  uint32_t ifindex = 0;
  int ttl = -1;               // IPv4 TTL / IPv6 hop limit, -1 if absent
  bool to_multicast = false;  // destination was the mDNS group
};
// Parses msg (after recvmsg filled it). False if the source address is not of `family`.
bool parse_received(const msghdr& msg, int family, ReceivedInfo& out);

// Room for the control messages of one sent or received datagram.
inline constexpr size_t kControlSpace = 256;

// Fills `to` and `control` for sending to `dst` out of `ifindex`; sets msg's name and
// control fields (the caller sets the iovec). False if dst's family does not match.
bool prepare_send(msghdr& msg, sockaddr_storage& to, void* control, size_t control_size, int family,
                  const mdns::Destination& dst, uint32_t ifindex);

mdns::IpAddress to_ip(const sockaddr* sa);

}  // namespace portico::modules
