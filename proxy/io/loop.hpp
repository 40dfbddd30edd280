#pragma once
// The completion-based event loop interface (proactor). A caller arms an
// operation on an Op it owns; the loop later delivers exactly one final
// completion for it (plus, for multishot operations, any number of
// intermediate ones flagged `more`). io_uring implements this natively; the
// epoll backend emulates it (readiness, then the syscall). One Loop per
// worker thread; every method must be called on that thread.
//
// Lifetime rule: an Op (and what it points to) must stay alive until its
// final completion has been delivered (op.armed() is false again). To stop
// an operation early, call cancel() and wait for that final completion.

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/base/clock.hpp"
#include "proxy/io/buffer_pool.hpp"
#include "proxy/io/pipe_pool.hpp"
#include "proxy/io/timers.hpp"

namespace portico::io {

class Op;

class OpHandler {
 public:
  // res: the syscall-style result (>= 0, or -errno). For accept: the new fd.
  // For recv: byte count, with op.buffer() holding the data (the handler now
  // owns that buffer and must release it to the pool); 0 means EOF.
  virtual void on_complete(Op& op, int res) = 0;

 protected:
  ~OpHandler() = default;
};

enum class OpKind : uint8_t {
  kNone, kAccept, kConnect, kRecv, kSend, kRecvMsg, kSendMsg, kRecvMMsg, kRead, kPollOut, kSplice
};

class Op {
 public:
  Op() = default;
  Op(OpHandler* h, uint8_t tag) : handler_(h), tag_(tag) {}
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  void bind(OpHandler* h, uint8_t tag) { handler_ = h; tag_ = tag; }
  bool armed() const { return armed_; }
  uint8_t tag() const { return tag_; }
  OpKind kind() const { return kind_; }
  int fd() const { return fd_; }
  // True on a multishot completion after which the operation stays armed.
  bool more() const { return more_; }
  // The buffer a recv completion filled (owned by the handler from then on).
  Buffer* take_buffer() { Buffer* b = buf_; buf_ = nullptr; return b; }

 private:
  friend class UringLoop;
  friend class EpollLoop;
  OpHandler* handler_ = nullptr;
  OpKind kind_ = OpKind::kNone;
  uint8_t tag_ = 0;
  bool armed_ = false;
  bool more_ = false;
  bool cancel_requested_ = false;
  bool queued_ = false;     // epoll: on the ready queue
  bool in_kernel_ = false;  // io_uring: an SQE for it is outstanding
  bool splice_in_ = false;  // splice: socket -> pipe (else pipe -> socket)
  int fd_ = -1;
  int flags_ = 0;           // recv(2) / sendmsg(2) flags
  void* ptr_ = nullptr;     // send/read buffer, msghdr for recvmsg/sendmsg
  size_t len_ = 0;          // send/read length
  const sockaddr* addr_ = nullptr;  // connect
  socklen_t addrlen_ = 0;
  int pipe_fd_ = -1;        // splice: the pipe end (fd_ is the socket)
  Buffer* buf_ = nullptr;   // recv result
  int preset_res_ = 0;      // epoll: result decided at arm time (connect)
  bool has_preset_ = false;
  Op* next_ = nullptr;      // backend-internal queues
};

// Work that runs once the completions at hand have been dispatched, before the
// loop waits again (nginx's posted events). A stream relay posts its flush
// instead of writing after every read: one write then carries every read of
// the batch, which means fewer, larger sends and fewer wake-ups of the peer
// that receives them. An object must stay alive while posted().
class Deferred {
 public:
  Deferred() = default;
  virtual ~Deferred() = default;
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  virtual void run_deferred() = 0;
  bool posted() const { return posted_; }

 private:
  friend class Loop;
  Deferred* next_ = nullptr;
  bool posted_ = false;
};

enum class Backend { kIoUring, kEpoll };

struct LoopOptions {
  uint32_t ring_entries = 4096;  // io_uring submission queue size
  uint32_t buffer_size = 64 * 1024;
  uint32_t buffers = 256;        // pool buffers; io_uring lends most to the kernel
  uint32_t batch_wait_us = 0;    // io_uring: min-wait batching (0 = off), see runtime.batch_wait
  uint32_t batch_wait_events = 16;
};

class Loop {
 public:
  virtual ~Loop() = default;
  virtual Backend backend() const = 0;
  const char* name() const { return backend() == Backend::kIoUring ? "io_uring" : "epoll"; }

  // Multishot: one completion per accepted connection (res = fd, already
  // non-blocking and close-on-exec), until cancelled or an error ends it.
  virtual void accept(Op& op, int listen_fd) = 0;
  // addr must stay valid until completion. res 0 = connected.
  virtual void connect(Op& op, int fd, const sockaddr* addr, socklen_t len) = 0;
  // Multishot receive into pool buffers. Intermediate completions carry data
  // (res > 0, more() true). The final completion is EOF (0), an error (<0) or
  // -ECANCELED. Running out of pool buffers is back-pressure: the loop waits
  // for buffers to come back, the caller sees nothing. `flags` is recv(2)'s;
  // with MSG_TRUNC a datagram larger than the buffer reports its real size.
  virtual void recv(Op& op, int fd, int flags = 0) = 0;
  // Single shot; res = bytes sent (may be short) or -errno.
  virtual void send(Op& op, int fd, const void* data, size_t len) = 0;
  virtual void recvmsg(Op& op, int fd, msghdr* msg) = 0;
  // `flags` adds to MSG_NOSIGNAL (MSG_MORE: the caller's shutdown or next
  // send follows at once, so the data may leave with it, FIN included).
  virtual void sendmsg(Op& op, int fd, const msghdr* msg, int flags = 0) = 0;
  // Single shot, for datagram sockets: waits until fd is readable, then
  // receives up to vlen datagrams at once (recvmmsg(2), never blocking).
  // res = datagrams received (1..vlen; vec[i].msg_len and
  // vec[i].msg_hdr.msg_flags set for each) or -errno. vec and everything it
  // points to must stay valid until completion.
  virtual void recvmmsg(Op& op, int fd, mmsghdr* vec, unsigned vlen) = 0;
  virtual void read(Op& op, int fd, void* data, size_t len) = 0;
  // Completes (res >= 0) once fd is writable: for callers that write with a
  // plain syscall themselves (sendfile of static files). Call it only after
  // that syscall returned EAGAIN (the epoll backend is edge-triggered).
  virtual void poll_out(Op& op, int fd) = 0;
  // Single shot: moves up to len bytes between a socket and a pipe with
  // splice(2), without copying them through user space. in = true: from
  // socket `fd` into the pipe's write end (the loop waits until the socket is
  // readable; the pipe must be empty, so that only the socket can make the
  // call wait); else from the pipe's read end into socket `fd` (waits until
  // it is writable; the pipe must hold data). res = bytes moved (may be
  // short), 0 at the socket's EOF (in), or -errno.
  virtual void splice(Op& op, int fd, int pipe_fd, size_t len, bool in) = 0;
  // Requests cancellation; the final completion still arrives (-ECANCELED or
  // the real result if it raced). No-op on an Op that is not armed.
  virtual void cancel(Op& op) = 0;
  // Closes an fd on which no operation is armed any more.
  virtual void close(int fd) = 0;

  // One turn: submit what was armed, wait for completions or the next timer
  // (at most max_wait_ns; -1 = no limit), dispatch them, run due timers.
  virtual void run_once(TimeNs max_wait_ns) = 0;

  // Runs d.run_deferred() once this turn's completions are dispatched (a
  // no-op while d is already posted). What runs may post again: that runs
  // in the next turn, which then does not wait.
  void post(Deferred& d) {
    if (d.posted_) return;
    d.posted_ = true;
    d.next_ = nullptr;
    if (posted_tail_) posted_tail_->next_ = &d; else posted_head_ = &d;
    posted_tail_ = &d;
  }

  TimeNs now() const { return now_; }
  Timers& timers() { return timers_; }
  BufferPool& pool() { return *pool_; }
  PipePool& pipes() { return pipes_; }

 protected:
  explicit Loop(const LoopOptions& o) : pool_(std::make_unique<BufferPool>(o.buffers, o.buffer_size)) {}
  TimeNs wait_budget(TimeNs max_wait_ns) const;  // min(max_wait, next timer); 0 with work posted
  bool has_posted() const { return posted_head_ != nullptr; }
  // Runs what is posted now (not what that posts); returns how many ran.
  size_t run_posted();
  void update_now() { now_ = monotonic_now(); }
  TimeNs now_ = monotonic_now();
  Timers timers_;
  std::unique_ptr<BufferPool> pool_;
  PipePool pipes_;

 private:
  Deferred* posted_head_ = nullptr;
  Deferred* posted_tail_ = nullptr;
};

// Checks once, at start-up, whether io_uring works here with every feature
// the uring backend needs (setup flags, provided-buffer rings, multishot
// accept and recv). On failure `why` says what is missing.
bool probe_io_uring(std::string& why);

// Creates a backend; nullptr with `why` set if it cannot be created.
std::unique_ptr<Loop> make_loop(Backend b, const LoopOptions& o, std::string& why);

}  // namespace portico::io
