#include "proxy/io/epoll_loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"

namespace portico::io {

namespace {
constexpr int kMaxEvents = 256;
// Operations run per turn before epoll_wait is asked again (see run_once).
constexpr size_t kMaxOpsPerTurn = 1024;
// What every socket is registered for; EPOLLOUT is added when needed (want_out).
constexpr uint32_t kBaseEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
}  // namespace

std::unique_ptr<EpollLoop> EpollLoop::create(const LoopOptions& o, std::string& why) {
  int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    why = std::string("epoll_create1: ") + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<EpollLoop>(new EpollLoop(o, epfd));
}

EpollLoop::EpollLoop(const LoopOptions& o, int epfd) : Loop(o), epfd_(epfd) {
  fds_.resize(1024);
  pool_->set_listener(this);
}

EpollLoop::~EpollLoop() {
  pool_->set_listener(nullptr);
  ::close(epfd_);
}

EpollLoop::FdState& EpollLoop::state(int fd) {
  if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(std::max<size_t>(fd + 1, fds_.size() * 2));
  return fds_[fd];
}

void EpollLoop::arm(Op& op, OpKind kind, int fd, bool reader, bool wait_for_edge) {
  op.kind_ = kind;
  op.fd_ = fd;
  op.armed_ = true;
  op.more_ = false;
  op.cancel_requested_ = false;
  op.has_preset_ = false;
  op.buf_ = nullptr;
  FdState& st = state(fd);
  const bool needs_out_edge = !reader && wait_for_edge;
  if (!st.registered) {
    // EPOLLOUT only once a writer has to wait (a connect, or a write that
    // found the socket full): a fresh socket is writable, so asking for it
    // up front costs a wake-up per connection that tells nothing new, and
    // so would every later state change on it (FIN_WAIT2 after our FIN).
    epoll_event ev{};
    ev.events = kBaseEvents | (needs_out_edge ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      // Not pollable (or bad fd): complete with the error.
      op.preset_res_ = -errno;
      op.has_preset_ = true;
      enqueue(op);
      return;
    }
    st.registered = true;
    st.out = needs_out_edge;
    st.readable = false;
    st.writable = true;  // optimistic: a fresh socket can usually be written
  } else if (needs_out_edge) {
    want_out(fd, st);
  }
  Op*& slot = reader ? st.reader : st.writer;
  if (slot != nullptr && slot != &op) {
    LOG_ERROR("epoll: two %s operations on fd %d", reader ? "reading" : "writing", fd);
    op.preset_res_ = -EBUSY;
    op.has_preset_ = true;
    enqueue(op);
    return;
  }
  slot = &op;
  if (wait_for_edge) {
    (reader ? st.readable : st.writable) = false;
    if (!reader) st.out_clean = false;
  }
  if (reader ? st.readable : st.writable) enqueue(op);
}

// A writer is about to wait for the writable edge: make sure it is asked
// for. Once added, EPOLLOUT stays (edge-triggered, it only reports changes),
// so a connection pays this call at most once, and only if it ever waits.
// epoll re-polls the socket on a change, so room that came back between the
// EAGAIN and this call still raises the event.
void EpollLoop::want_out(int fd, FdState& st) {
  if (st.out || !st.registered) return;
  epoll_event ev{};
  ev.events = kBaseEvents | EPOLLOUT;
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) {
    LOG_ERROR("epoll: EPOLL_CTL_MOD fd %d: %s", fd, std::strerror(errno));
    return;
  }
  st.out = true;
}

void EpollLoop::enqueue(Op& op) {
  if (op.queued_) return;
  op.queued_ = true;
  op.next_ = nullptr;
  if (ready_tail_) ready_tail_->next_ = &op; else ready_head_ = &op;
  ready_tail_ = &op;
}

void EpollLoop::accept(Op& op, int listen_fd) {
  arm(op, OpKind::kAccept, listen_fd, true);
  state(listen_fd).listener = true;
}

void EpollLoop::connect(Op& op, int fd, const sockaddr* addr, socklen_t len) {
  op.addr_ = addr;
  op.addrlen_ = len;
  int r = ::connect(fd, addr, len);
  int err = r == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    // Wait for EPOLLOUT; the fd must not look writable before that.
    arm(op, OpKind::kConnect, fd, false, /*wait_for_edge=*/true);
    return;
  }
  arm(op, OpKind::kConnect, fd, false);
  if (op.has_preset_) return;
  op.preset_res_ = -err;
  op.has_preset_ = true;
  enqueue(op);
}

void EpollLoop::recv(Op& op, int fd, int flags) {
  op.flags_ = flags;
  arm(op, OpKind::kRecv, fd, true);
}

void EpollLoop::send(Op& op, int fd, const void* data, size_t len) {
  op.ptr_ = const_cast<void*>(data);
  op.len_ = len;
  arm(op, OpKind::kSend, fd, false);
}

void EpollLoop::recvmsg(Op& op, int fd, msghdr* msg) {
  op.ptr_ = msg;
  arm(op, OpKind::kRecvMsg, fd, true);
  state(fd).listener = true;
}

void EpollLoop::sendmsg(Op& op, int fd, const msghdr* msg, int flags) {
  op.ptr_ = const_cast<msghdr*>(msg);
  op.flags_ = flags;
  arm(op, OpKind::kSendMsg, fd, false);
}

void EpollLoop::recvmmsg(Op& op, int fd, mmsghdr* vec, unsigned vlen) {
  op.ptr_ = vec;
  op.len_ = vlen;
  arm(op, OpKind::kRecvMMsg, fd, true);
  state(fd).listener = true;
}

void EpollLoop::read(Op& op, int fd, void* data, size_t len) {
  op.ptr_ = data;
  op.len_ = len;
  arm(op, OpKind::kRead, fd, true);
}

void EpollLoop::poll_out(Op& op, int fd) {
  arm(op, OpKind::kPollOut, fd, false, /*wait_for_edge=*/true);  // the caller just saw EAGAIN
}

void EpollLoop::splice(Op& op, int fd, int pipe_fd, size_t len, bool in) {
  op.pipe_fd_ = pipe_fd;
  op.len_ = len;
  op.splice_in_ = in;
  arm(op, OpKind::kSplice, fd, in);
}

void EpollLoop::cancel(Op& op) {
  if (!op.armed_ || op.cancel_requested_) return;
  op.cancel_requested_ = true;
  auto it = std::find(starved_.begin(), starved_.end(), &op);
  if (it != starved_.end()) starved_.erase(it);
  enqueue(op);  // process() delivers -ECANCELED
}

void EpollLoop::close(int fd) {
  if (fd < 0) return;
  if (static_cast<size_t>(fd) < fds_.size()) {
    FdState& st = fds_[fd];
    if (st.reader || st.writer) LOG_ERROR("epoll: closing fd %d with an armed operation", fd);
    // A listening socket handed to another process (upgrade) outlives this
    // close, and so would its registration here (epoll keys on the open file,
    // not the descriptor): remove it first.
    if (st.registered && st.listener) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    st = FdState{};
  }
  ::close(fd);
}

void EpollLoop::complete(Op& op, int res, bool more) {
  op.more_ = more;
  if (!more) {
    op.armed_ = false;
    if (op.fd_ >= 0 && static_cast<size_t>(op.fd_) < fds_.size()) {
      FdState& st = fds_[op.fd_];
      if (st.reader == &op) st.reader = nullptr;
      if (st.writer == &op) st.writer = nullptr;
    }
  }
  op.handler_->on_complete(op, res);
}

void EpollLoop::on_buffer_released(Buffer*) {
  if (starved_.empty()) return;
  for (Op* op : starved_) enqueue(*op);
  starved_.clear();
}

void EpollLoop::process(Op& op) {
  if (!op.armed_) return;
  if (op.cancel_requested_) {
    complete(op, -ECANCELED, false);
    return;
  }
  if (op.has_preset_) {
    op.has_preset_ = false;
    complete(op, op.preset_res_, false);
    return;
  }
  FdState& st = fds_[op.fd_];
  switch (op.kind_) {
    case OpKind::kAccept: {
      int fd = ::accept4(op.fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        complete(op, fd, true);
        if (op.armed_) enqueue(op);  // keep accepting until EAGAIN
        return;
      }
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) { st.readable = false; return; }
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) { enqueue(op); return; }
      complete(op, -e, false);  // EMFILE and friends end the multishot, like io_uring
      return;
    }
    case OpKind::kConnect: {
      // A connecting socket raises EPOLLOUT only once it is established (a TCP
      // socket in SYN_SENT never polls writable), and a failed attempt always
      // carries EPOLLERR: so EPOLLOUT without EPOLLERR is a success, and costs
      // no system call. Otherwise asking connect() again settles it (as HAProxy
      // does): 0 or EISCONN once connected, EALREADY while the handshake is
      // still under way, else the error that ended the attempt.
      if (st.out_clean) {
        complete(op, 0, false);
        return;
      }
      int err = ::connect(op.fd_, op.addr_, op.addrlen_) == 0 ? 0 : errno;
      if (err == EALREADY || err == EINPROGRESS) {
        st.writable = false;  // keep waiting for the edge
        return;
      }
      if (err == EISCONN) err = 0;
      complete(op, -err, false);
      return;
    }
    case OpKind::kRecv: {
      if (st.eof_next) {
        complete(op, 0, false);
        return;
      }
      Buffer* b = pool_->acquire();
      if (!b) {  // back-pressure: wait for a buffer to come back
        starved_.push_back(&op);
        return;
      }
      ssize_t n = ::recv(op.fd_, b->data, pool_->size(), op.flags_ | MSG_DONTWAIT);
      if (n > 0) {
        b->len = static_cast<uint32_t>(std::min<size_t>(n, pool_->size()));
        op.buf_ = b;
        // A short read of a stream drained the socket: wait for the next edge
        // (new data always raises one). Not so once the peer closed: the FIN
        // may have come with the data, and no further edge would follow.
        bool drained = !(op.flags_ & MSG_TRUNC) && !st.hup && static_cast<size_t>(n) < pool_->size();
        if (drained) st.readable = false;
        // With the FIN in before this read, a short read emptied the queue up
        // to it: TCP delivers in order and nothing follows a FIN. So the EOF
        // needs no recv() of its own, which saves one system call per closed
        // connection (HAProxy's raw_sock does the same with FD_POLL_HUP).
        if (st.fin && op.flags_ == 0 && static_cast<size_t>(n) < pool_->size()) st.eof_next = true;
        complete(op, static_cast<int>(n), true);
        if (op.armed_ && !drained) enqueue(op);
        return;
      }
      int e = n == 0 ? 0 : errno;
      pool_->release(b);
      if (e == EAGAIN || e == EWOULDBLOCK) { st.readable = false; return; }
      if (e == EINTR) { enqueue(op); return; }
      complete(op, -e, false);
      return;
    }
    case OpKind::kSend: {
      ssize_t n = ::send(op.fd_, op.ptr_, op.len_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { st.writable = false; want_out(op.fd_, st); return; }
      if (n < 0 && errno == EINTR) { enqueue(op); return; }
      complete(op, n < 0 ? -errno : static_cast<int>(n), false);
      return;
    }
    case OpKind::kRecvMsg:
    case OpKind::kRead: {
      ssize_t n = op.kind_ == OpKind::kRead
                      ? ::read(op.fd_, op.ptr_, op.len_)
                      : ::recvmsg(op.fd_, static_cast<msghdr*>(op.ptr_), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { st.readable = false; return; }
      if (n < 0 && errno == EINTR) { enqueue(op); return; }
      complete(op, n < 0 ? -errno : static_cast<int>(n), false);
      return;
    }
    case OpKind::kRecvMMsg: {
      const unsigned vlen = static_cast<unsigned>(op.len_);
      int n = ::recvmmsg(op.fd_, static_cast<mmsghdr*>(op.ptr_), vlen, MSG_DONTWAIT, nullptr);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { st.readable = false; return; }
      if (n < 0 && errno == EINTR) { enqueue(op); return; }
      // Fewer than asked: the queue is empty now, and the next datagram raises
      // a new edge, so the re-armed op waits for epoll instead of a futile try.
      if (n >= 0 && static_cast<unsigned>(n) < vlen) st.readable = false;
      complete(op, n < 0 ? -errno : n, false);
      return;
    }
    case OpKind::kSendMsg: {
      ssize_t n = ::sendmsg(op.fd_, static_cast<msghdr*>(op.ptr_), op.flags_ | MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { st.writable = false; want_out(op.fd_, st); return; }
      if (n < 0 && errno == EINTR) { enqueue(op); return; }
      complete(op, n < 0 ? -errno : static_cast<int>(n), false);
      return;
    }
    case OpKind::kPollOut:
      complete(op, 0, false);
      return;
    case OpKind::kSplice: {
      // The pipe side never makes it wait (empty for in, holding data for
      // out), so EAGAIN is the socket's: wait for its next edge. A short
      // move into the pipe does not prove the socket drained (the pipe has
      // a limited number of slots), so readiness stays until EAGAIN says so.
      ssize_t n = splice_socket(op.fd_, op.pipe_fd_, op.len_, op.splice_in_);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        (op.splice_in_ ? st.readable : st.writable) = false;
        if (!op.splice_in_) want_out(op.fd_, st);
        return;
      }
      if (n < 0 && errno == EINTR) { enqueue(op); return; }
      complete(op, n < 0 ? -errno : static_cast<int>(n), false);
      return;
    }
    case OpKind::kNone:
      return;
  }
}

void EpollLoop::run_once(TimeNs max_wait_ns) {
  update_now();
  int timeout_ms = 0;
  if (!ready_head_) {
    TimeNs w = wait_budget(max_wait_ns);
    timeout_ms = w < 0 ? -1 : static_cast<int>((w + kNsPerMs - 1) / kNsPerMs);
  }
  epoll_event events[kMaxEvents];
  int n = ::epoll_wait(epfd_, events, kMaxEvents, timeout_ms);
  if (n < 0 && errno != EINTR) LOG_ERROR("epoll_wait: %s", std::strerror(errno));
  update_now();
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (static_cast<size_t>(fd) >= fds_.size()) continue;
    FdState& st = fds_[fd];
    uint32_t ev = events[i].events;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      st.readable = true;
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st.hup = true;
      st.fin = (ev & (EPOLLRDHUP | EPOLLHUP)) && !(ev & EPOLLERR);
      if (st.reader) enqueue(*st.reader);
    }
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      st.writable = true;
      st.out_clean = (ev & (EPOLLOUT | EPOLLERR)) == EPOLLOUT;
      if (st.writer) enqueue(*st.writer);
    }
  }
  // Run what is ready, then what that made ready (a recv's completion arms the
  // send on the other socket, which can usually go at once): an epoll_wait
  // between the two would only cost a system call that finds nothing new.
  // Passes repeat until nothing is queued or kMaxOpsPerTurn operations ran;
  // the rest waits for the next turn, whose epoll_wait then does not block,
  // so a busy stream cannot starve other sockets' events or the timers.
  // Posted work runs once the ready queue is empty (a relay's flush after
  // its reads), once per turn, and what it arms runs in the same turn.
  size_t ran = 0;
  bool posted_ran = false;
  while (ran < kMaxOpsPerTurn) {
    if (!ready_head_) {
      if (posted_ran || !has_posted()) break;
      posted_ran = true;
      ran += run_posted();
      continue;
    }
    Op* head = ready_head_;
    ready_head_ = ready_tail_ = nullptr;
    while (head) {
      Op* op = head;
      head = op->next_;
      op->queued_ = false;
      op->next_ = nullptr;
      process(*op);
      ++ran;
    }
  }
  timers_.run(now_);
}

}  // namespace portico::io
