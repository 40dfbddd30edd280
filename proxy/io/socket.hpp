#pragma once
// Small socket helpers shared by listeners and relays. Plain syscalls; all
// sockets are non-blocking and close-on-exec.

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

void set_nodelay(int fd);
// Make the next close() send a RST instead of a FIN (SO_LINGER 0).
void set_reset_on_close(int fd);

// One splice(2) between socket `fd` and a pipe end, never blocking:
// in = socket -> pipe (pipe_fd the write end), else pipe -> socket.
// Returns what splice returns (errno set on -1).
ssize_t splice_socket(int fd, int pipe_fd, size_t len, bool in);

}  // namespace portico::io
