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
