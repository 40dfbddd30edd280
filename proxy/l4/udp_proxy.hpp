#pragma once
// L4 UDP relay: a listener socket per worker, a session per client address
// with its own connected upstream socket, datagrams relayed both ways, idle
// expiry, and a bound on sessions. Datagrams larger than the pool buffer
// size (runtime.buffer_size) are dropped, never truncated. Sends are
// non-blocking; a datagram that would block is dropped (UDP semantics).

#include <sys/socket.h>

#include <string>
#include <unordered_map>

#include "proxy/io/loop.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/l4/session.hpp"

namespace portico::l4 {

class UdpSession;

using io::PeerKey;
using io::PeerKeyHash;

// One per worker per udp listener. Owns its socket fd once started.
class UdpListener final : private io::OpHandler {
 public:
  UdpListener(WorkerEnv* env, int fd, ListenerShared* shared);
  ~UdpListener();
  // New sessions use this generation's listener and cluster.
  void configure(Generation* gen, const conf::Listener* listener, const conf::Cluster* cluster);
  void start();
  // Stops receiving and ends every session; `done` once nothing is armed.
  void stop();
  bool stopped() const { return stopping_ && !recv_.armed() && live_ == 0; }
  int fd() const { return fd_; }

 private:
  friend class UdpSession;
  void on_complete(io::Op& op, int res) override;
  void on_datagram(size_t len);
  void arm();
  void session_gone(UdpSession* s);

  WorkerEnv* env_;
  int fd_;
  ListenerShared* shared_;
  Generation* gen_ = nullptr;
  const conf::Listener* listener_ = nullptr;
  const conf::Cluster* cluster_ = nullptr;
  // Sessions count as connections: accepted, active, refused (a datagram
  // dropped at udp_sessions), and their bytes.
  ListenerStats* stats_ = WorkerStats::listener_sink();
  io::Op recv_;
  sockaddr_storage peer_{};
  iovec iov_{};
  msghdr msg_{};
  bool wildcard_ = false;  // bound to 0.0.0.0 or ::: replies name their source (IP_PKTINFO)
  alignas(cmsghdr) uint8_t control_[io::kPktinfoSpace];
  std::string buf_;  // one datagram: 64 KiB
  std::unordered_map<PeerKey, UdpSession*, PeerKeyHash> sessions_;
  uint32_t live_ = 0;  // sessions not yet destroyed (some may be unlinked, closing)
  bool stopping_ = false;
};

}  // namespace portico::l4
