#include "proxy/modules/mdns_socket.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

namespace portico::modules {

namespace {

const uint8_t kGroupV4[4] = {224, 0, 0, 251};
const uint8_t kGroupV6[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb};

int prefix_length(const sockaddr* mask, size_t bytes) {
  if (!mask) return bytes * 8;
  const uint8_t* p = mask->sa_family == AF_INET
                         ? reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(mask)->sin_addr)
                         : reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
  int n = 0;
  for (size_t i = 0; i < bytes; ++i) n += __builtin_popcount(p[i]);
  return n;
}

IpPrefix make_prefix(const mdns::IpAddress& a, int len) {
  IpPrefix p;
  p.net = a;
  p.length = len;
  for (size_t i = 0; i < a.size(); ++i) {
    int bits = len - int(i) * 8;
    if (bits >= 8) continue;
    p.net.bytes[i] &= bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
  }
  return p;
}

std::string error_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool setopt(int fd, int level, int name, int value, const char* what, std::string& err) {
  if (::setsockopt(fd, level, name, &value, sizeof value) == 0) return true;
  err = error_text(what);
  return false;
}

}  // namespace

mdns::IpAddress to_ip(const sockaddr* sa) {
  mdns::IpAddress a;
  if (sa->sa_family == AF_INET) {
    a.family = 4;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    a.family = 6;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  }
  return a;
}

bool IpPrefix::contains(const mdns::IpAddress& a) const {
  if (a.family != net.family) return false;
  return make_prefix(a, length).net == net;
}

bool on_link(const MdnsInterface& iface, const mdns::IpAddress& src) {
  if (src.is_v4() && src.bytes[0] == 169 && src.bytes[1] == 254) return true;
  if (src.is_v6() && src.bytes[0] == 0xfe && (src.bytes[1] & 0xc0) == 0x80) return true;
  for (const auto& p : iface.prefixes)
    if (p.contains(src)) return true;
  return false;
}

bool scan_interfaces(const std::vector<std::string>& names, bool ipv4, bool ipv6,
                     std::vector<MdnsInterface>& out, std::vector<std::string>& missing,
                     std::string& err) {
  out.clear();
  missing.clear();
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    err = error_text("getifaddrs");
    return false;
  }
  std::set<std::string> seen;
  std::map<std::string, MdnsInterface> found;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_name) continue;
    seen.insert(i->ifa_name);
    if (!i->ifa_addr) continue;
    const int fam = i->ifa_addr->sa_family;
    if (!((fam == AF_INET && ipv4) || (fam == AF_INET6 && ipv6))) continue;
    const unsigned flags = i->ifa_flags;
    if (!(flags & IFF_UP) || !(flags & IFF_MULTICAST)) continue;
    if (names.empty()) {
      if (flags & IFF_LOOPBACK) continue;
    } else if (std::find(names.begin(), names.end(), i->ifa_name) == names.end()) {
      continue;
    }
    uint32_t index = ::if_nametoindex(i->ifa_name);
    if (index == 0) continue;
    MdnsInterface& m = found[i->ifa_name];
    m.index = index;
    m.name = i->ifa_name;
    mdns::IpAddress a = to_ip(i->ifa_addr);
    m.addresses.push_back(a);
    m.prefixes.push_back(make_prefix(a, prefix_length(i->ifa_netmask, a.size())));
  }
  ::freeifaddrs(list);
  for (const auto& n : names)
    if (!seen.count(n)) missing.push_back(n);
  for (auto& [name, m] : found) {
    std::sort(m.addresses.begin(), m.addresses.end());
    m.addresses.erase(std::unique(m.addresses.begin(), m.addresses.end()), m.addresses.end());
    std::sort(m.prefixes.begin(), m.prefixes.end(),
              [](const IpPrefix& a, const IpPrefix& b) { return std::tie(a.net, a.length) < std::tie(b.net, b.length); });
    m.prefixes.erase(std::unique(m.prefixes.begin(), m.prefixes.end()), m.prefixes.end());
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const MdnsInterface& a, const MdnsInterface& b) { return a.index < b.index; });
  return true;
}

int open_mdns_socket(int family, uint16_t port, std::string& err) {
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    err = error_text("socket");
    return -1;
  }
  // Only the groups this socket joined, not every group joined on the host (best effort:
  // IPV6_MULTICAST_ALL needs Linux 4.20).
  int zero = 0;
  if (family == AF_INET) ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
  else ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero);
  bool ok = setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", err) &&
            setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", err);
  if (ok && family == AF_INET) {
    ok = setopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, 255, "IP_MULTICAST_TTL", err) &&
         setopt(fd, IPPROTO_IP, IP_TTL, 255, "IP_TTL", err) &&
         setopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 1, "IP_MULTICAST_LOOP", err) &&
         setopt(fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO", err) &&
         setopt(fd, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL", err);
    if (ok) {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(port);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
        err = error_text("bind");
        ok = false;
      }
    }
  } else if (ok) {
    ok = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", err) &&
         setopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, "IPV6_MULTICAST_HOPS", err) &&
         setopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS", err) &&
         setopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1, "IPV6_MULTICAST_LOOP", err) &&
         setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO", err) &&
         setopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT", err);
    if (ok) {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_port = htons(port);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) != 0) {
        err = error_text("bind");
        ok = false;
      }
    }
  }
  if (!ok) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool join_group(int fd, int family, uint32_t ifindex, std::string& err) {
  int r;
  if (family == AF_INET) {
    ip_mreqn m{};
    std::memcpy(&m.imr_multiaddr, kGroupV4, 4);
    m.imr_ifindex = static_cast<int>(ifindex);
    r = ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
  } else {
    ipv6_mreq m{};
    std::memcpy(&m.ipv6mr_multiaddr, kGroupV6, 16);
    m.ipv6mr_interface = ifindex;
    r = ::setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m);
  }
  if (r == 0 || errno == EADDRINUSE) return true;  // already a member
  err = error_text(family == AF_INET ? "IP_ADD_MEMBERSHIP" : "IPV6_JOIN_GROUP");
  return false;
}

void leave_group(int fd, int family, uint32_t ifindex) {
  if (family == AF_INET) {
    ip_mreqn m{};
    std::memcpy(&m.imr_multiaddr, kGroupV4, 4);
    m.imr_ifindex = static_cast<int>(ifindex);
    ::setsockopt(fd, IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
  } else {
    ipv6_mreq m{};
    std::memcpy(&m.ipv6mr_multiaddr, kGroupV6, 16);
    m.ipv6mr_interface = ifindex;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_LEAVE_GROUP, &m, sizeof m);
  }
}

void set_multicast_interface(int fd, int family, uint32_t ifindex) {
  if (family == AF_INET) {
    ip_mreqn m{};
    m.imr_ifindex = static_cast<int>(ifindex);
    ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
  } else {
    int idx = static_cast<int>(ifindex);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
  }
}

bool parse_received(const msghdr& msg, int family, ReceivedInfo& out) {
  out = ReceivedInfo{};
  const auto* sa = static_cast<const sockaddr*>(msg.msg_name);
  if (!sa || msg.msg_namelen < sizeof(sa_family_t) || sa->sa_family != family) return false;
  out.from.addr = to_ip(sa);
  out.from.port = ntohs(family == AF_INET ? reinterpret_cast<const sockaddr_in*>(sa)->sin_port
                                          : reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  for (const cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      out.ifindex = static_cast<uint32_t>(pi.ipi_ifindex);
      out.to_multicast = std::memcmp(&pi.ipi_addr, kGroupV4, 4) == 0;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int ttl;
      std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
      out.ttl = ttl;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
               c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      out.ifindex = pi.ipi6_ifindex;
      out.to_multicast = std::memcmp(&pi.ipi6_addr, kGroupV6, 16) == 0;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT &&
               c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int hops;
      std::memcpy(&hops, CMSG_DATA(c), sizeof hops);
      out.ttl = hops;
    }
  }
  return true;
}

bool prepare_send(msghdr& msg, sockaddr_storage& to, void* control, size_t control_size, int family,
                  const mdns::Destination& dst, uint32_t ifindex) {
  const mdns::Endpoint ep = dst.endpoint();
  if ((family == AF_INET) != ep.addr.is_v4() || (family == AF_INET6) != ep.addr.is_v6()) return false;
  std::memset(&to, 0, sizeof to);
  std::memset(control, 0, control_size);
  msg.msg_name = &to;
  msg.msg_control = control;
  msg.msg_flags = 0;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&to);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    std::memcpy(&sin->sin_addr, ep.addr.bytes.data(), 4);
    msg.msg_namelen = sizeof(sockaddr_in);
    msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo pi{};
    pi.ipi_ifindex = static_cast<int>(ifindex);  // selects the interface, also for multicast
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(ep.port);
    std::memcpy(&sin6->sin6_addr, ep.addr.bytes.data(), 16);
    if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&sin6->sin6_addr))
      sin6->sin6_scope_id = ifindex;
    msg.msg_namelen = sizeof(sockaddr_in6);
    msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
    in6_pktinfo pi{};
    pi.ipi6_ifindex = ifindex;
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  }
  return msg.msg_controllen <= control_size;
}

}  // namespace portico::modules
