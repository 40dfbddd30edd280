#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <cstring>

#include "proxy/modules/mdns_socket.hpp"

using namespace portico;
using namespace portico::modules;

namespace {

mdns::IpAddress ip(const char* s) { return *mdns::IpAddress::parse(s); }

// Receives one datagram on fd (blocking up to 2 s) with its control messages.
bool receive(int fd, int family, ReceivedInfo& info, std::string& payload) {
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  char buf[512];
  sockaddr_storage from{};
  alignas(cmsghdr) unsigned char ctl[kControlSpace];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t n = ::recvmsg(fd, &msg, 0);
  if (n < 0) return false;
  payload.assign(buf, static_cast<size_t>(n));
  return parse_received(msg, family, info);
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

TEST_CASE("prefixes contain the addresses of their network only") {
  IpPrefix p{ip("192.0.2.0"), 24};
  CHECK(p.contains(ip("192.0.2.77")));
  CHECK_FALSE(p.contains(ip("192.0.3.1")));
  CHECK_FALSE(p.contains(ip("2001:db8::1")));
  IpPrefix q{ip("2001:db8:1::"), 48};
  CHECK(q.contains(ip("2001:db8:1:ffff::5")));
  CHECK_FALSE(q.contains(ip("2001:db8:2::5")));
  IpPrefix odd{ip("10.0.0.128"), 25};
  CHECK(odd.contains(ip("10.0.0.200")));
  CHECK_FALSE(odd.contains(ip("10.0.0.100")));
}

TEST_CASE("on-link: the interface's prefixes and link-local sources; nothing else") {
  MdnsInterface f;
  f.index = 2;
  f.name = "eth0";
  f.prefixes = {{ip("192.0.2.0"), 24}, {ip("2001:db8::"), 64}};
  CHECK(on_link(f, ip("192.0.2.9")));
  CHECK(on_link(f, ip("2001:db8::9")));
  CHECK(on_link(f, ip("169.254.10.1")));
  CHECK(on_link(f, ip("fe80::1234")));
  CHECK_FALSE(on_link(f, ip("198.51.100.1")));
  CHECK_FALSE(on_link(f, ip("2001:db8:1::9")));
  CHECK_FALSE(on_link(f, ip("fec0::1")));
}

TEST_CASE("scan_interfaces reports configured names that do not exist") {
  std::vector<MdnsInterface> out;
  std::vector<std::string> missing;
  std::string err;
  REQUIRE(scan_interfaces({"pmdns-none0"}, true, true, out, missing, err));
  CHECK(out.empty());
  CHECK(missing == std::vector<std::string>{"pmdns-none0"});
  // "lo" exists (not missing) but is not multicast-capable: not used.
  REQUIRE(scan_interfaces({"lo"}, true, true, out, missing, err));
  CHECK(missing.empty());
  for (const auto& i : out) CHECK(i.name == "lo");
}

TEST_CASE("prepare_send names the interface in IP_PKTINFO and the scope of ff02::fb") {
  msghdr msg{};
  sockaddr_storage to{};
  alignas(cmsghdr) unsigned char ctl[kControlSpace];
  REQUIRE(prepare_send(msg, to, ctl, sizeof ctl, AF_INET, mdns::Destination::multicast(4), 7));
  auto* sin = reinterpret_cast<sockaddr_in*>(&to);
  CHECK(ntohs(sin->sin_port) == 5353);
  CHECK(ntohl(sin->sin_addr.s_addr) == 0xE00000FB);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  REQUIRE(c);
  CHECK(c->cmsg_level == IPPROTO_IP);
  CHECK(c->cmsg_type == IP_PKTINFO);
  in_pktinfo pi;
  std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
  CHECK(pi.ipi_ifindex == 7);

  REQUIRE(prepare_send(msg, to, ctl, sizeof ctl, AF_INET6, mdns::Destination::multicast(6), 9));
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
  CHECK(sin6->sin6_scope_id == 9);
  CHECK(sin6->sin6_addr.s6_addr[0] == 0xff);
  CHECK(sin6->sin6_addr.s6_addr[15] == 0xfb);
  c = CMSG_FIRSTHDR(&msg);
  REQUIRE(c);
  CHECK(c->cmsg_type == IPV6_PKTINFO);
  in6_pktinfo pi6;
  std::memcpy(&pi6, CMSG_DATA(c), sizeof pi6);
  CHECK(pi6.ipi6_ifindex == 9);

  // Unicast to a global IPv6 address: no scope; a family mismatch is refused.
  REQUIRE(prepare_send(msg, to, ctl, sizeof ctl, AF_INET6, mdns::Destination::to({ip("2001:db8::1"), 5353}), 9));
  CHECK(sin6->sin6_scope_id == 0);
  CHECK_FALSE(prepare_send(msg, to, ctl, sizeof ctl, AF_INET, mdns::Destination::multicast(6), 1));
  CHECK_FALSE(prepare_send(msg, to, ctl, sizeof ctl, AF_INET6, mdns::Destination::to({ip("192.0.2.1"), 53}), 1));
}

// Unicast over loopback only: the receive side's control messages (interface, TTL or hop
// limit, unicast destination) as the module sees them.
TEST_CASE("received datagrams report interface, TTL and destination (IPv4 and IPv6 loopback)") {
  const unsigned lo = ::if_nametoindex("lo");
  REQUIRE(lo != 0);
  struct Case {
    int family;
    const char* addr;
  };
  for (Case k : {Case{AF_INET, "127.0.0.1"}, Case{AF_INET6, "::1"}}) {
    CAPTURE(k.addr);
    std::string err;
    int rx = open_mdns_socket(k.family, 0, err);
    REQUIRE_MESSAGE(rx >= 0, err);
    int tx = ::socket(k.family, SOCK_DGRAM, 0);
    REQUIRE(tx >= 0);
    int ttl = 255;
    if (k.family == AF_INET) {
      ::setsockopt(tx, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    } else {
      ::setsockopt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl);
    }
    sockaddr_storage dst{};
    socklen_t len;
    if (k.family == AF_INET) {
      auto* s = reinterpret_cast<sockaddr_in*>(&dst);
      s->sin_family = AF_INET;
      s->sin_port = htons(local_port(rx));
      ::inet_pton(AF_INET, k.addr, &s->sin_addr);
      len = sizeof *s;
    } else {
      auto* s = reinterpret_cast<sockaddr_in6*>(&dst);
      s->sin6_family = AF_INET6;
      s->sin6_port = htons(local_port(rx));
      ::inet_pton(AF_INET6, k.addr, &s->sin6_addr);
      len = sizeof *s;
    }
    REQUIRE(::sendto(tx, "hello", 5, 0, reinterpret_cast<sockaddr*>(&dst), len) == 5);
    ReceivedInfo info;
    std::string payload;
    REQUIRE(receive(rx, k.family, info, payload));
    CHECK(payload == "hello");
    CHECK(info.from.addr == ip(k.addr));
    CHECK(info.from.port == local_port(tx));
    CHECK(info.ifindex == lo);
    CHECK(info.ttl == 255);
    CHECK_FALSE(info.to_multicast);
    // The wrong family is refused.
    ReceivedInfo other;
    msghdr empty{};
    CHECK_FALSE(parse_received(empty, k.family, other));
    ::close(tx);
    ::close(rx);
  }
}
