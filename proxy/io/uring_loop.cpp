#include "proxy/io/uring_loop.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"

namespace portico::io {

namespace {
constexpr uint64_t kInternal = 0;  // user_data of cancel SQEs: ignored
constexpr unsigned kBatch = 256;
constexpr uint32_t kFeatMinTimeout = 1u << 15;  // IORING_FEAT_MIN_TIMEOUT (Linux 6.12), newer than our headers

// liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring: map the ring
// ourselves and register it.
io_uring_buf_ring* setup_buf_ring(io_uring* ring, uint32_t entries, int bgid, int* err) {
  size_t bytes = entries * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = entries;
  reg.bgid = static_cast<uint16_t>(bgid);
  int r = io_uring_register_buf_ring(ring, &reg, 0);
  if (r < 0) {
    ::munmap(mem, bytes);
    *err = r;
    return nullptr;
  }
  return br;
}

void free_buf_ring(io_uring* ring, io_uring_buf_ring* br, uint32_t entries, int bgid) {
  io_uring_unregister_buf_ring(ring, bgid);
  ::munmap(br, entries * sizeof(io_uring_buf));
}

uint32_t floor_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

// Tries the best setup flags first and degrades.
int setup_ring(io_uring& ring, uint32_t entries, unsigned& used_flags) {
  const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  const unsigned variants[] = {
      base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      base | IORING_SETUP_COOP_TASKRUN,
      base,
  };
  int r = -EINVAL;
  for (unsigned flags : variants) {
    io_uring_params p{};
    p.flags = flags;
    // Multishot operations post many completions per submission: a large CQ
    // (the kernel also keeps an overflow list, IORING_FEAT_NODROP).
    p.cq_entries = std::min<uint32_t>(entries * 8, 65536);
    r = io_uring_queue_init_params(entries, &ring, &p);
    if (r == 0) {
      used_flags = flags;
      return 0;
    }
    if (r != -EINVAL) return r;  // EPERM (seccomp, sysctl), ENOMEM (memlock): no point retrying
  }
  return r;
}
}  // namespace

const char* UringLoop::describe_flags(unsigned flags) {
  if (flags & IORING_SETUP_DEFER_TASKRUN) return "single_issuer+defer_taskrun";
  if (flags & IORING_SETUP_COOP_TASKRUN) return "coop_taskrun";
  return "basic";
}

bool probe_io_uring(std::string& why) {
  io_uring ring;
  unsigned flags = 0;
  int r = setup_ring(ring, 64, flags);
  if (r < 0) {
    why = std::string("io_uring_setup failed: ") + std::strerror(-r);
    return false;
  }
  bool ok = true;
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  const int needed[] = {IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_RECV, IORING_OP_SEND,
                        IORING_OP_RECVMSG, IORING_OP_SENDMSG, IORING_OP_READ, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD};
  if (!probe) {
    why = "io_uring probe unsupported (kernel too old)";
    ok = false;
  } else {
    for (int opcode : needed)
      if (!io_uring_opcode_supported(probe, opcode)) {
        why = "io_uring lacks opcode " + std::to_string(opcode);
        ok = false;
        break;
      }
    io_uring_free_probe(probe);
  }
  io_uring_buf_ring* br = nullptr;
  alignas(64) static thread_local char probe_buf[64];
  if (ok) {
    int err = 0;
    br = setup_buf_ring(&ring, 1, 7, &err);
    if (!br) {
      why = std::string("no provided-buffer rings (kernel < 5.19?): ") + std::strerror(-err);
      ok = false;
    } else {
      io_uring_buf_ring_add(br, probe_buf, sizeof probe_buf, 0, io_uring_buf_ring_mask(1), 0);
      io_uring_buf_ring_advance(br, 1);
    }
  }
  if (ok) {
    // Multishot recv (kernel 6.0): arm one on a socketpair and see it work.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 7;
      sqe->user_data = 1;
      char c = 'x';
      ssize_t w = ::write(sv[1], &c, 1);
      (void)w;
      __kernel_timespec ts{1, 0};
      io_uring_cqe* cqe = nullptr;
      r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
      if (r < 0 || !cqe || cqe->res != 1 || !(cqe->flags & IORING_CQE_F_MORE)) {
        why = "multishot recv unsupported (kernel < 6.0?)";
        ok = false;
      }
      ::close(sv[0]);
      ::close(sv[1]);
    } else {
      why = "socketpair failed";
      ok = false;
    }
  }
  if (br) free_buf_ring(&ring, br, 1, 7);
  io_uring_queue_exit(&ring);
  return ok;
}

std::unique_ptr<UringLoop> UringLoop::create(const LoopOptions& o, std::string& why) {
  std::unique_ptr<UringLoop> l(new UringLoop(o));
  if (!l->init(o, why)) return nullptr;
  return l;
}

UringLoop::UringLoop(const LoopOptions& o) : Loop(o) {}

bool UringLoop::init(const LoopOptions& o, std::string& why) {
  int r = setup_ring(ring_, o.ring_entries, setup_flags_);
  if (r < 0) {
    why = std::string("io_uring_setup: ") + std::strerror(-r);
    return false;
  }
  ring_ok_ = true;
  if (o.batch_wait_us > 0) {
    if (ring_.features & kFeatMinTimeout) {
      batch_wait_us_ = o.batch_wait_us;
      batch_wait_events_ = o.batch_wait_events;
    } else {
      LOG_WARN("runtime.batch_wait: this kernel lacks io_uring min-wait (Linux 6.12+): ignored");
    }
  }
  // Lend most of the pool to the kernel as a provided-buffer ring; keep a
  // quarter (at least 16) for buffers the proxy fills itself.
  uint32_t keep = std::max<uint32_t>(16, pool_->count() / 4);
  uint32_t lend = pool_->count() > keep ? pool_->count() - keep : 0;
  br_entries_ = std::min<uint32_t>(floor_pow2(std::max<uint32_t>(lend, 1)), 32768);
  int err = 0;
  br_ = setup_buf_ring(&ring_, br_entries_, kBufGroup, &err);
  if (!br_) {
    why = std::string("io_uring_setup_buf_ring: ") + std::strerror(-err);
    return false;
  }
  pool_->reserve_for_ring(br_entries_);
  const int mask = io_uring_buf_ring_mask(br_entries_);
  for (uint32_t i = 0; i < br_entries_; ++i)
    io_uring_buf_ring_add(br_, pool_->at(i)->data, pool_->size(), static_cast<unsigned short>(i), mask,
                          static_cast<int>(i));
  io_uring_buf_ring_advance(br_, static_cast<int>(br_entries_));
  pool_->set_listener(this);
  LOG_DEBUG("io_uring ring: sq=%u flags=%s provided buffers=%u x %u", o.ring_entries,
            describe_flags(setup_flags_), br_entries_, pool_->size());
  return true;
}

UringLoop::~UringLoop() {
  pool_->set_listener(nullptr);
  if (br_) free_buf_ring(&ring_, br_, br_entries_, kBufGroup);
  if (ring_ok_) io_uring_queue_exit(&ring_);
}

io_uring_sqe* UringLoop::sqe_for(Op& op, OpKind kind, int fd) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {  // SQ full: flush what we have, then there is room
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  op.kind_ = kind;
  op.fd_ = fd;
  op.armed_ = true;
  op.in_kernel_ = true;
  op.more_ = false;
  op.buf_ = nullptr;
  io_uring_sqe_set_data(sqe, &op);
  return sqe;
}

void UringLoop::submit_accept(Op& op) {
  io_uring_sqe* sqe = sqe_for(op, OpKind::kAccept, op.fd_);
  io_uring_prep_multishot_accept(sqe, op.fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void UringLoop::submit_recv(Op& op) {
  io_uring_sqe* sqe = sqe_for(op, OpKind::kRecv, op.fd_);
  io_uring_prep_recv_multishot(sqe, op.fd_, nullptr, 0, op.flags_);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufGroup;
}

void UringLoop::accept(Op& op, int listen_fd) {
  op.fd_ = listen_fd;
  op.cancel_requested_ = false;
  submit_accept(op);
}

void UringLoop::connect(Op& op, int fd, const sockaddr* addr, socklen_t len) {
  op.cancel_requested_ = false;
  io_uring_prep_connect(sqe_for(op, OpKind::kConnect, fd), fd, addr, len);
}

void UringLoop::recv(Op& op, int fd, int flags) {
  op.fd_ = fd;
  op.flags_ = flags;
  op.cancel_requested_ = false;
  submit_recv(op);
}

void UringLoop::send(Op& op, int fd, const void* data, size_t len) {
  op.cancel_requested_ = false;
  io_uring_prep_send(sqe_for(op, OpKind::kSend, fd), fd, data, len, MSG_NOSIGNAL);
}

void UringLoop::recvmsg(Op& op, int fd, msghdr* msg) {
  op.cancel_requested_ = false;
  io_uring_prep_recvmsg(sqe_for(op, OpKind::kRecvMsg, fd), fd, msg, 0);
}

void UringLoop::sendmsg(Op& op, int fd, const msghdr* msg, int flags) {
  op.cancel_requested_ = false;
  io_uring_prep_sendmsg(sqe_for(op, OpKind::kSendMsg, fd), fd, msg, static_cast<unsigned>(flags | MSG_NOSIGNAL));
}

// io_uring has no recvmmsg opcode: a POLLIN poll, then one recvmmsg(2) for the
// whole batch when it fires (a poll on a readable socket completes at submit).
void UringLoop::recvmmsg(Op& op, int fd, mmsghdr* vec, unsigned vlen) {
  op.cancel_requested_ = false;
  op.ptr_ = vec;
  op.len_ = vlen;
  op.fd_ = fd;
  submit_recvmmsg_poll(op);
}

void UringLoop::submit_recvmmsg_poll(Op& op) {
  io_uring_prep_poll_add(sqe_for(op, OpKind::kRecvMMsg, op.fd_), op.fd_, POLLIN);
}

void UringLoop::finish_recvmmsg(Op& op, int res) {
  if (res < 0 || op.cancel_requested_) {
    deliver(op, res < 0 ? res : -ECANCELED, false);
    return;
  }
  int n = ::recvmmsg(op.fd_, static_cast<mmsghdr*>(op.ptr_), static_cast<unsigned>(op.len_),
                     MSG_DONTWAIT, nullptr);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    submit_recvmmsg_poll(op);  // spurious wake-up (another reader took it): wait again
    return;
  }
  deliver(op, n < 0 ? -errno : n, false);
}

void UringLoop::read(Op& op, int fd, void* data, size_t len) {
  op.cancel_requested_ = false;
  io_uring_prep_read(sqe_for(op, OpKind::kRead, fd), fd, data, static_cast<unsigned>(len), 0);
}

void UringLoop::poll_out(Op& op, int fd) {
  op.cancel_requested_ = false;
  io_uring_prep_poll_add(sqe_for(op, OpKind::kPollOut, fd), fd, POLLOUT);
}

// io_uring's own splice opcode always runs in an io-wq worker thread: a
// thread hop per call, and a worker blocked on every idle socket. So, as for
// recvmmsg, a poll on the socket, then splice(2) on the loop thread when it
// fires. A move out is tried at once: the receiving socket usually has room,
// and a poll first would only add a round trip. Its result is delivered with
// this turn's deferred completions, never from inside this call.
void UringLoop::splice(Op& op, int fd, int pipe_fd, size_t len, bool in) {
  op.cancel_requested_ = false;
  op.pipe_fd_ = pipe_fd;
  op.len_ = len;
  op.splice_in_ = in;
  if (!in) {
    ssize_t n = splice_socket(fd, pipe_fd, len, in);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      op.kind_ = OpKind::kSplice;
      op.fd_ = fd;
      op.armed_ = true;
      op.in_kernel_ = false;
      op.more_ = false;
      op.buf_ = nullptr;
      defer_final(op, n < 0 ? -errno : static_cast<int>(n));
      return;
    }
  }
  io_uring_prep_poll_add(sqe_for(op, OpKind::kSplice, fd), fd, in ? POLLIN : POLLOUT);
}

void UringLoop::finish_splice(Op& op, int res) {
  if (res < 0 || op.cancel_requested_) {
    deliver(op, res < 0 ? res : -ECANCELED, false);
    return;
  }
  ssize_t n = splice_socket(op.fd_, op.pipe_fd_, op.len_, op.splice_in_);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    io_uring_prep_poll_add(sqe_for(op, OpKind::kSplice, op.fd_), op.fd_, op.splice_in_ ? POLLIN : POLLOUT);
    return;
  }
  deliver(op, n < 0 ? -errno : static_cast<int>(n), false);
}

void UringLoop::cancel(Op& op) {
  if (!op.armed_ || op.cancel_requested_) return;
  // A result already waiting in this turn's deferred list is the final
  // completion (it raced with the cancel): deliver that one, once.
  for (Op* d = deferred_head_; d; d = d->next_)
    if (d == &op) return;
  op.cancel_requested_ = true;
  if (op.in_kernel_) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, kInternal);
    return;
  }
  // Not in the kernel: a recv parked for buffers, or between re-arms.
  auto it = std::find(starved_.begin(), starved_.end(), &op);
  if (it != starved_.end()) starved_.erase(it);
  defer_final(op, -ECANCELED);
}

void UringLoop::close(int fd) {
  if (fd >= 0) ::close(fd);
}

void UringLoop::defer_final(Op& op, int res) {
  op.preset_res_ = res;
  op.next_ = nullptr;
  if (deferred_tail_) deferred_tail_->next_ = &op; else deferred_head_ = &op;
  deferred_tail_ = &op;
}

void UringLoop::deliver(Op& op, int res, bool more) {
  op.more_ = more;
  if (!more) {
    op.armed_ = false;
    op.in_kernel_ = false;
  }
  op.handler_->on_complete(op, res);
}

void UringLoop::on_buffer_released(Buffer* b) {
  if (b->id >= br_entries_) return;
  io_uring_buf_ring_add(br_, b->data, pool_->size(), static_cast<unsigned short>(b->id),
                        io_uring_buf_ring_mask(br_entries_), 0);
  io_uring_buf_ring_advance(br_, 1);
  if (starved_.empty()) return;
  // Buffers are back: re-arm the receivers that ran dry.
  std::vector<Op*> again;
  again.swap(starved_);
  for (Op* op : again) submit_recv(*op);
}

// A multishot operation ended without IORING_CQE_F_MORE but with a result:
// hand the result over as an intermediate completion, then re-arm
// transparently, unless the operation was cancelled meanwhile.
void UringLoop::continue_multishot(Op& op, int res) {
  op.in_kernel_ = false;
  deliver(op, res, true);
  if (!op.armed_) return;
  if (op.cancel_requested_) {
    // cancel() saw in_kernel_ false and deferred the final completion, or
    // the cancel SQE raced with this last CQE: deliver it once.
    bool already = false;
    for (Op* d = deferred_head_; d; d = d->next_) already |= d == &op;
    if (!already) defer_final(op, -ECANCELED);
    return;
  }
  if (op.kind_ == OpKind::kRecv) submit_recv(op);
  else submit_accept(op);
}

void UringLoop::dispatch(Op& op, int res, uint32_t flags) {
  const bool more = flags & IORING_CQE_F_MORE;
  switch (op.kind_) {
    case OpKind::kRecv: {
      if (flags & IORING_CQE_F_BUFFER) {
        Buffer* b = pool_->at(flags >> IORING_CQE_BUFFER_SHIFT);
        b->off = 0;
        b->len = res > 0 ? std::min<uint32_t>(res, pool_->size()) : 0;
        b->next = nullptr;
        if (res <= 0) {  // a buffer with no data: straight back to the ring
          pool_->release(b);
        } else {
          op.buf_ = b;
        }
      }
      if (res == -ENOBUFS && !more) {
        // Ring empty: back-pressure. Park until buffers are released.
        op.in_kernel_ = false;
        if (op.cancel_requested_) deliver(op, -ECANCELED, false);
        else starved_.push_back(&op);
        return;
      }
      if (res > 0 && !more) {
        // The multishot ended while data flows (e.g. CQ pressure).
        continue_multishot(op, res);
        return;
      }
      deliver(op, res, more);
      return;
    }
    case OpKind::kAccept: {
      if (res >= 0 && !more) {
        continue_multishot(op, res);
        return;
      }
      deliver(op, res, more && res >= 0);
      return;
    }
    case OpKind::kRecvMMsg:
      finish_recvmmsg(op, res);
      return;
    case OpKind::kSplice:
      finish_splice(op, res);
      return;
    default:
      deliver(op, res, false);
      return;
  }
}

// submit + wait with a minimum batch timeout: once one completion is ready the
// kernel keeps the task asleep up to batch_wait_us_ for batch_wait_events_ of
// them (with DEFER_TASKRUN it is not even woken before that many are queued).
// liburing 2.3 predates io_uring_submit_and_wait_min_timeout: publish the SQ
// tail as it does, then enter with the extended argument.
int UringLoop::submit_and_wait_batch(const __kernel_timespec* ts) {
  io_uring_sq& sq = ring_.sq;
  if (sq.sqe_head != sq.sqe_tail) {
    sq.sqe_head = sq.sqe_tail;
    io_uring_smp_store_release(sq.ktail, sq.sqe_tail);
  }
  const unsigned to_submit = sq.sqe_tail - io_uring_smp_load_acquire(sq.khead);
  io_uring_getevents_arg arg{};
  arg.sigmask_sz = _NSIG / 8;
  arg.pad = batch_wait_us_;  // min_wait_usec in newer headers
  arg.ts = reinterpret_cast<uint64_t>(ts);
  long r = ::syscall(__NR_io_uring_enter, ring_.ring_fd, to_submit, batch_wait_events_,
                     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  return r < 0 ? -errno : static_cast<int>(r);
}

void UringLoop::run_once(TimeNs max_wait_ns) {
  update_now();
  io_uring_cqe* cqe = nullptr;
  if (deferred_head_) {
    io_uring_submit(&ring_);
  } else {
    TimeNs w = wait_budget(max_wait_ns);
    __kernel_timespec ts{};
    __kernel_timespec* tsp = nullptr;
    if (w >= 0) {
      ts.tv_sec = w / kNsPerSec;
      ts.tv_nsec = w % kNsPerSec;
      tsp = &ts;
    }
    int r = batch_wait_us_ ? submit_and_wait_batch(tsp) : io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
      LOG_ERROR("io_uring_submit_and_wait: %s", std::strerror(-r));
  }
  update_now();
  // Copy completions out in batches and mark them seen before dispatching:
  // handlers submit new work while we iterate.
  struct Done {
    uint64_t data;
    int res;
    uint32_t flags;
  };
  Done batch[kBatch];
  for (int rounds = 0; rounds < 64; ++rounds) {
    unsigned n = 0;
    unsigned head;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      batch[n++] = {cqe->user_data, cqe->res, cqe->flags};
      if (n == kBatch) break;
    }
    if (n == 0) break;
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) {
      if (batch[i].data == kInternal) continue;
      dispatch(*reinterpret_cast<Op*>(batch[i].data), batch[i].res, batch[i].flags);
    }
    if (n < kBatch) break;
  }
  while (deferred_head_) {
    Op* op = deferred_head_;
    deferred_head_ = op->next_;
    if (!deferred_head_) deferred_tail_ = nullptr;
    op->next_ = nullptr;
    deliver(*op, op->preset_res_, false);
  }
  run_posted();  // what it arms is submitted by the next turn's enter
  timers_.run(now_);
}

}  // namespace portico::io
