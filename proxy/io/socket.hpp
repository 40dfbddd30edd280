#pragma once
// Small socket helpers shared by listeners and relays. Plain syscalls; all
// sockets are non-blocking and close-on-exec.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <string>

namespace portico::io {

// A bound socket for a listener: SO_REUSEADDR, and SO_REUSEPORT so that each
// worker owns its own socket on the same address; listen() for streams.
// Returns -1 with `err` set on failure.
int open_listener(const sockaddr* addr, socklen_t len, int type, int backlog, std::string& err);

// An unconnected socket for an upstream of the given family and type.
int open_socket(int family, int type, std::string& err);

// A socket address as a hash key (compared byte-wise, no allocation).
struct PeerKey {
  sockaddr_storage addr{};
  socklen_t len = 0;
  PeerKey() = default;
  PeerKey(const sockaddr* sa, socklen_t l);
  bool operator==(const PeerKey& o) const;
};
struct PeerKeyHash {
  size_t operator()(const PeerKey& k) const;
};

// The local address a datagram was sent to, on a socket bound to a wildcard
// address (IP_PKTINFO / IPV6_PKTINFO): replies must leave from it, or a
// client that connect()ed its socket never sees them.
struct LocalAddr {
  int family = 0;  // 0: unknown (the kernel picks the source)
  in_addr addr4{};
  in6_addr addr6{};
  int ifindex = 0;  // IPv6 (link-local addresses need it)
  bool operator==(const LocalAddr& o) const;
};
// True for 0.0.0.0 and ::.
bool is_wildcard(const sockaddr* addr);
// Asks the kernel for the destination address of each datagram received.
void enable_pktinfo(int fd, int family);
// Room for one IP(V6)_PKTINFO control message (receiving or sending).
inline constexpr size_t kPktinfoSpace = CMSG_SPACE(sizeof(in6_pktinfo));
// The destination address of a datagram received with `mh`; family 0 if absent.
LocalAddr read_pktinfo(msghdr& mh);
// Makes a sendmsg with `mh` leave from `local` (nothing if family 0);
// `control` holds kPktinfoSpace bytes and must live until the send.
void set_pktinfo(msghdr& mh, const LocalAddr& local, uint8_t* control);

void set_nodelay(int fd);
// Make the next close() send a RST instead of a FIN (SO_LINGER 0).
void set_reset_on_close(int fd);

// One splice(2) between socket `fd` and a pipe end, never blocking:
// in = socket -> pipe (pipe_fd the write end), else pipe -> socket.
// Returns what splice returns (errno set on -1).
ssize_t splice_socket(int fd, int pipe_fd, size_t len, bool in);

}  // namespace portico::io
