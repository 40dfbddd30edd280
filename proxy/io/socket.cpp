#include "proxy/io/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace portico::io {

int open_socket(int family, int type, std::string& err) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) err = std::string("socket: ") + std::strerror(errno);
  return fd;
}

int open_listener(const sockaddr* addr, socklen_t len, int type, int backlog, std::string& err) {
  int fd = open_socket(addr->sa_family, type, err);
  if (fd < 0) return -1;
  int one = 1;
  if (addr->sa_family != AF_UNIX) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (addr->sa_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // Accepted sockets inherit TCP_NODELAY from their listener: one
    // setsockopt here instead of one per connection.
    if (type == SOCK_STREAM) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else {
    // A stale socket file from an earlier run would make bind fail.
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
    if (un->sun_path[0] != '\0') ::unlink(un->sun_path);
  }
  if (::bind(fd, addr, len) < 0) {
    err = std::string("bind: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (type == SOCK_STREAM && ::listen(fd, backlog) < 0) {
    err = std::string("listen: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

PeerKey::PeerKey(const sockaddr* sa, socklen_t l) : len(l > sizeof addr ? sizeof addr : l) {
  std::memcpy(&addr, sa, len);
}

bool PeerKey::operator==(const PeerKey& o) const {
  return len == o.len && std::memcmp(&addr, &o.addr, len) == 0;
}

size_t PeerKeyHash::operator()(const PeerKey& k) const {
  // FNV-1a over the address bytes.
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(&k.addr);
  for (socklen_t i = 0; i < k.len; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return static_cast<size_t>(h);
}

bool LocalAddr::operator==(const LocalAddr& o) const {
  if (family != o.family || ifindex != o.ifindex) return false;
  if (family == AF_INET) return addr4.s_addr == o.addr4.s_addr;
  return family != AF_INET6 || std::memcmp(&addr6, &o.addr6, sizeof addr6) == 0;
}

bool is_wildcard(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) return reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (addr->sa_family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
  return false;
}

void enable_pktinfo(int fd, int family) {
  int one = 1;
  if (family == AF_INET) ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  else if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
}

LocalAddr read_pktinfo(msghdr& mh) {
  LocalAddr l;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      l.family = AF_INET;
      l.addr4 = pi.ipi_addr;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
               c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      l.family = AF_INET6;
      l.addr6 = pi.ipi6_addr;
      l.ifindex = static_cast<int>(pi.ipi6_ifindex);
    }
  }
  return l;
}

void set_pktinfo(msghdr& mh, const LocalAddr& l, uint8_t* control) {
  mh.msg_control = nullptr;
  mh.msg_controllen = 0;
  if (l.family != AF_INET && l.family != AF_INET6) return;
  std::memset(control, 0, kPktinfoSpace);
  mh.msg_control = control;
  mh.msg_controllen = kPktinfoSpace;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  if (l.family == AF_INET) {
    in_pktinfo pi{};
    pi.ipi_spec_dst = l.addr4;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    mh.msg_controllen = CMSG_SPACE(sizeof pi);
  } else {
    in6_pktinfo pi{};
    pi.ipi6_addr = l.addr6;
    pi.ipi6_ifindex = static_cast<unsigned>(l.ifindex);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    mh.msg_controllen = CMSG_SPACE(sizeof pi);
  }
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void set_reset_on_close(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

ssize_t splice_socket(int fd, int pipe_fd, size_t len, bool in) {
  constexpr unsigned kFlags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
  return in ? ::splice(fd, nullptr, pipe_fd, nullptr, len, kFlags)
            : ::splice(pipe_fd, nullptr, fd, nullptr, len, kFlags);
}

}  // namespace portico::io
