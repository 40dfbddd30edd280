#pragma once
// The epoll backend: emulates the completion interface with edge-triggered
// readiness. Each fd is registered once (EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge
// triggered); an armed operation runs its syscall when the fd is ready and
// completes like io_uring would. At most one reading and one writing
// operation per fd at a time. One instance per worker thread.

#include <vector>

#include "proxy/io/loop.hpp"

namespace portico::io {

class EpollLoop final : public Loop, private BufferPool::Listener {
 public:
  static std::unique_ptr<EpollLoop> create(const LoopOptions& o, std::string& why);
  ~EpollLoop() override;

  Backend backend() const override { return Backend::kEpoll; }
  void accept(Op& op, int listen_fd) override;
  void connect(Op& op, int fd, const sockaddr* addr, socklen_t len) override;
  void recv(Op& op, int fd, int flags) override;
  void send(Op& op, int fd, const void* data, size_t len) override;
  void recvmsg(Op& op, int fd, msghdr* msg) override;
  void sendmsg(Op& op, int fd, const msghdr* msg, int flags = 0) override;
  void recvmmsg(Op& op, int fd, mmsghdr* vec, unsigned vlen) override;
  void read(Op& op, int fd, void* data, size_t len) override;
  void poll_out(Op& op, int fd) override;
  void splice(Op& op, int fd, int pipe_fd, size_t len, bool in) override;
  void cancel(Op& op) override;
  void close(int fd) override;
  void run_once(TimeNs max_wait_ns) override;

 private:
  struct FdState {
    Op* reader = nullptr;
    Op* writer = nullptr;
    bool registered = false;
    bool readable = false;
    bool writable = false;
    bool hup = false;  // peer closed (RDHUP/HUP/ERR seen): read until EOF
    // The peer's FIN was in, with no error, at the last wake-up: a short read
    // then drained everything before it, so the next read is EOF (see kRecv).
    bool fin = false;
    bool eof_next = false;  // that next read: completes with 0, no system call
    // The last write-side wake-up: EPOLLOUT without EPOLLERR settles a pending
    // connect as connected; anything else asks connect() for the outcome.
    bool out_clean = false;
    // An accept or a datagram receive was armed: a listening socket, which an
    // upgrade may share with another process.
    bool listener = false;
    bool out = false;  // EPOLLOUT is in the registered events (see want_out)
  };

  EpollLoop(const LoopOptions& o, int epfd);
  FdState& state(int fd);
  void arm(Op& op, OpKind kind, int fd, bool reader, bool wait_for_edge = false);
  void enqueue(Op& op);
  void want_out(int fd, FdState& st);
  void process(Op& op);
  void complete(Op& op, int res, bool more);
  void on_buffer_released(Buffer* b) override;

  int epfd_;
  std::vector<FdState> fds_;
  Op* ready_head_ = nullptr;
  Op* ready_tail_ = nullptr;
  std::vector<Op*> starved_;  // recv ops waiting for a pool buffer (one per connection at most)
};

}  // namespace portico::io
