#pragma once
// The io_uring backend: native completions, one io_uring_submit per loop
// turn, multishot accept, multishot recv with a provided-buffer ring that
// lends the worker's pool buffers to the kernel. Ring set up with
// SINGLE_ISSUER|DEFER_TASKRUN where available (COOP_TASKRUN otherwise), so it
// must be created and used on its worker's thread only.

#include <liburing.h>

#include <vector>

#include "proxy/io/loop.hpp"

namespace portico::io {

class UringLoop final : public Loop, private BufferPool::Listener {
 public:
  static std::unique_ptr<UringLoop> create(const LoopOptions& o, std::string& why);
  ~UringLoop() override;

  Backend backend() const override { return Backend::kIoUring; }
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

  // Setup flags that worked, for the start-up log.
  static const char* describe_flags(unsigned flags);

 private:
  explicit UringLoop(const LoopOptions& o);
  bool init(const LoopOptions& o, std::string& why);
  io_uring_sqe* sqe_for(Op& op, OpKind kind, int fd);
  void submit_recv(Op& op);
  void submit_accept(Op& op);
  void submit_recvmmsg_poll(Op& op);
  void finish_recvmmsg(Op& op, int res);
  void finish_splice(Op& op, int res);
  void dispatch(Op& op, int res, uint32_t flags);
  void continue_multishot(Op& op, int res);
  void deliver(Op& op, int res, bool more);
  void defer_final(Op& op, int res);
  void on_buffer_released(Buffer* b) override;

  int submit_and_wait_batch(const __kernel_timespec* ts);

  io_uring ring_{};
  bool ring_ok_ = false;
  uint32_t batch_wait_us_ = 0;  // 0 = off, or the kernel lacks IORING_FEAT_MIN_TIMEOUT
  uint32_t batch_wait_events_ = 16;
  unsigned setup_flags_ = 0;
  io_uring_buf_ring* br_ = nullptr;
  uint32_t br_entries_ = 0;
  static constexpr int kBufGroup = 0;
  std::vector<Op*> starved_;  // multishot recvs stopped by -ENOBUFS
  Op* deferred_head_ = nullptr;  // final completions to deliver this turn
  Op* deferred_tail_ = nullptr;
};

}  // namespace portico::io
