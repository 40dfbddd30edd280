#include "proxy/http/upstream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "proxy/base/log.hpp"

namespace portico::http {

namespace {
enum Tag : uint8_t { kConnect, kRecv, kSend };
}

UpstreamConn::UpstreamConn(UpstreamPool* pool, const conf::Address& a, int fd)
    : pool_(pool),
      address_(a),
      key_(a.sa(), a.len),
      fd_(fd),
      connect_(this, kConnect),
      recv_(this, kRecv),
      send_(this, kSend),
      idle_timer_(this, 0) {}

void UpstreamConn::send(const void* data, size_t len) {
  io::append(pool_->loop_->pool(), tls_ctx_ ? plain_out_ : out_, data, len);
  if (connected_) flush();
}

void UpstreamConn::flush() {
  if (send_.armed() || closing_) return;
  if (tls_ && !plain_out_.empty() && tls_->handshake_done() &&
      tls_->encrypt(pool_->loop_->pool(), plain_out_, out_, 64 * 1024) == tls::Status::kError) {
    // Called from the user's own send(): tell it later, through the receive
    // side, which this ends (never call back into the user from here).
    LOG_DEBUG("upstream %s: TLS write failed: %s", address_.str().c_str(), tls_->conn().error().reason);
    tls_broken_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    return;
  }
  if (out_.empty() && shut_after_flush_ && plain_out_.empty()) {
    // Everything queued is sent: close_notify (TLS, once), then the FIN.
    if (tls_ && tls_->handshake_done()) tls_->shutdown(pool_->loop_->pool(), out_);
    if (out_.empty()) {
      shut_after_flush_ = false;
      ::shutdown(fd_, SHUT_WR);
      return;
    }
  }
  if (out_.empty()) return;
  msg_ = {};
  msg_.msg_iov = iov_;
  msg_.msg_iovlen = io::gather(out_, iov_, sizeof iov_ / sizeof iov_[0]);
  pool_->loop_->sendmsg(send_, fd_, &msg_);
}

void UpstreamConn::shutdown_write() {
  // After what is queued (plain or TLS): shutting down at once would make
  // the kernel refuse the queued bytes (EPIPE) and lose them.
  shut_after_flush_ = true;
  if (connected_) flush();
}

// ---- TLS seam

void UpstreamConn::tls_start() {
  tls_ = std::make_unique<l4::TlsPipe>();
  std::string endpoint = address_.str();
  if (!tls_ctx_->connect(tls_->conn(), endpoint, tls_name_)) {
    LOG_DEBUG("upstream %s: TLS: %s", endpoint.c_str(), tls_->conn().error().reason);
    tls_failed();
    return;
  }
  // The ClientHello: an empty delivery drives the handshake.
  io::Buffer* b = pool_->loop_->pool().acquire_any();
  b->len = b->off = 0;
  if (tls_->deliver(pool_->loop_->pool(), b, plain_in_, out_) == tls::Status::kError) {
    tls_failed();
    return;
  }
  flush();
}

void UpstreamConn::tls_failed() {
  if (tls_ && !tls_broken_) {
    const tls::TlsError& e = tls_->conn().error();
    LOG_DEBUG("upstream %s: TLS %s failed: %s (%s)", address_.str().c_str(),
              tls_->handshake_done() ? "read" : "handshake", tls::kind_name(e.kind), e.reason);
  }
  tls_broken_ = true;
  io::Loop* loop = pool_->loop_;
  if (!send_.armed())  // the alert, best effort, never blocking
    for (io::Buffer* b = out_.front(); b; b = b->next)
      if (::send(fd_, b->readable(), b->remaining(), MSG_DONTWAIT | MSG_NOSIGNAL) != ssize_t(b->remaining())) break;
  while (!plain_in_.empty()) loop->pool().release(plain_in_.pop());
  if (!user_) {
    pool_->close(this);  // may delete this
    return;
  }
  // Before the handshake ended: a failed connect; after: a broken stream.
  if (!tls_->handshake_done()) user_->on_upstream_connected(*this, -EPROTO);
  else user_->on_upstream_closed(*this, -EPROTO);
}

void UpstreamConn::tls_deliver(io::Buffer* b) {
  io::Loop* loop = pool_->loop_;
  const bool was_done = tls_->handshake_done();
  tls::Status st = tls_->deliver(loop->pool(), b, plain_in_, out_);
  if (st == tls::Status::kError) {
    tls_failed();
    return;
  }
  if (!user_) {  // idle: session tickets are fine, data or close_notify is not
    if (!plain_in_.empty() || st == tls::Status::kClosed) {
      while (!plain_in_.empty()) loop->pool().release(plain_in_.pop());
      pool_->close(this);
      return;
    }
    flush();
    return;
  }
  flush();  // handshake flights, then the request once the handshake is done
  if (!was_done && tls_->handshake_done()) {
    user_->on_upstream_connected(*this, 0);
    if (!user_) return;
  }
  while (!plain_in_.empty() && user_) user_->on_upstream_data(*this, plain_in_.pop());
  if (st == tls::Status::kClosed && user_ && !eof_) {
    // close_notify: the response stream ended; the socket may stay open.
    eof_ = true;
    user_->on_upstream_closed(*this, 0);
  }
}

void UpstreamConn::pause_recv() {
  if (paused_ || closing_) return;
  paused_ = true;
  if (recv_.armed()) {
    pool_->loop_->cancel(recv_);
    pause_cancel_ = true;
  }
}

void UpstreamConn::resume_recv() {
  if (!paused_ || closing_) return;
  paused_ = false;
  if (!recv_.armed() && !eof_ && connected_) pool_->loop_->recv(recv_, fd_);
}

void UpstreamConn::on_complete(io::Op& op, int res) {
  io::Loop* loop = pool_->loop_;
  switch (op.tag()) {
    case kConnect:
      if (closing_) break;
      if (res == 0) {
        connected_ = true;
        if (address_.family() != AF_UNIX) io::set_nodelay(fd_);
        loop->recv(recv_, fd_);
        if (tls_ctx_) {
          tls_start();  // the user hears "connected" when the handshake is done
          return;
        }
        flush();
      }
      if (user_) user_->on_upstream_connected(*this, res);
      return;
    case kRecv: {
      if (res > 0) {
        io::Buffer* b = op.take_buffer();
        if (tls_ && !closing_) {
          if (!tls_broken_ && !eof_) tls_deliver(b);
          else loop->pool().release(b);  // after close_notify or an error: ignored
          return;
        }
        if (closing_ || !user_ || tls_) {  // idle in the pool: unexpected bytes, the connection is unusable
          loop->pool().release(b);
          if (closing_) break;
          pool_->close(this);  // may delete this
          return;
        }
        user_->on_upstream_data(*this, b);
        return;
      }
      const bool pause_cancel = pause_cancel_;  // this is the final completion
      pause_cancel_ = false;
      if (res == -ECANCELED && pause_cancel && !closing_) {
        // The cancel of pause_recv(). A resume_recv() may have come while it
        // was in flight (recv_ still armed then): re-arm now.
        if (!paused_ && !eof_ && connected_) loop->recv(recv_, fd_);
        return;
      }
      if (tls_ && !closing_ && !eof_ && !tls_broken_ && user_ && !tls_->handshake_done()) {
        eof_ = true;
        tls_->conn().on_eof();
        user_->on_upstream_connected(*this, res < 0 ? res : -ECONNRESET);
        return;
      }
      if (tls_ && eof_ && !closing_ && user_ && res == 0) return;  // FIN after close_notify: already told
      eof_ = true;
      if (closing_) break;
      if (!user_) {  // idle connection closed by the backend
        LOG_DEBUG("upstream %s: idle connection closed by peer", address_.str().c_str());
        pool_->close(this);  // may delete this
        return;
      }
      user_->on_upstream_closed(*this, res);
      return;
    }
    case kSend: {
      if (closing_) break;
      if (res < 0) {
        if (user_) user_->on_upstream_drained(*this, res);
        return;
      }
      io::consume(loop->pool(), out_, static_cast<size_t>(res));
      flush();
      if (send_.armed() || closing_) return;
      if (tls_ && (!tls_->handshake_done() || !plain_out_.empty())) return;  // handshake flights
      if (user_) user_->on_upstream_drained(*this, 0);
      return;
    }
  }
  if (closing_) maybe_destroy();
}

void UpstreamConn::on_timer(io::Timer&) {
  if (!user_ && !closing_) {
    LOG_DEBUG("upstream %s: idle timeout", address_.str().c_str());
    pool_->close(this);
  }
}

void UpstreamConn::maybe_destroy() {
  if (connect_.armed() || recv_.armed() || send_.armed()) return;
  io::Loop* loop = pool_->loop_;
  while (!out_.empty()) loop->pool().release(out_.pop());
  while (!plain_out_.empty()) loop->pool().release(plain_out_.pop());
  while (!plain_in_.empty()) loop->pool().release(plain_in_.pop());
  loop->close(fd_);
  --pool_->live_;
  delete this;
}

UpstreamPool::~UpstreamPool() {
  // Workers end only once every session is gone; what is left is idle.
  for (auto& [k, v] : idle_)
    for (UpstreamConn* c : v) {
      c->user_ = nullptr;
      c->closing_ = true;
      loop_->timers().cancel(c->idle_timer_);
      if (c->recv_.armed()) loop_->cancel(c->recv_);
    }
  for (int i = 0; i < 100 && live_ > 0; ++i) loop_->run_once(5 * kNsPerMs);
}

UpstreamConn* UpstreamPool::acquire(const conf::Address& address, UpstreamUser* user,
                                    const std::shared_ptr<tls::ClientContext>& tls, std::string_view name) {
  Key key{io::PeerKey(address.sa(), address.len), tls.get()};
  if (auto it = idle_.find(key); it != idle_.end() && !it->second.empty()) {
    UpstreamConn* c = it->second.back();
    it->second.pop_back();
    loop_->timers().cancel(c->idle_timer_);
    c->user_ = user;
    c->reused_ = true;
    return c;
  }
  std::string err;
  int fd = io::open_socket(address.family(), SOCK_STREAM, err);
  if (fd < 0) {
    LOG_WARN("upstream %s: %s", address.str().c_str(), err.c_str());
    return nullptr;
  }
  auto* c = new UpstreamConn(this, address, fd);
  ++live_;
  c->user_ = user;
  c->tls_ctx_ = tls;
  c->tls_name_.assign(name);
  loop_->connect(c->connect_, fd, c->address_.sa(), c->address_.len);
  return c;
}

void UpstreamPool::release(UpstreamConn* c, bool reusable, uint32_t max_idle, TimeNs idle_timeout) {
  c->user_ = nullptr;
  if (c->paused_) c->resume_recv();
  auto& list = idle_[Key{c->key_, c->tls_ctx_.get()}];
  if (!reusable || c->eof_ || !c->connected() || !c->out_.empty() || !c->plain_out_.empty() || c->tls_broken_ ||
      list.size() >= max_idle || !c->recv_.armed()) {
    close(c);
    return;
  }
  list.push_back(c);
  loop_->timers().arm(c->idle_timer_, loop_->now() + idle_timeout);
}

void UpstreamPool::forget_idle(UpstreamConn* c) {
  auto it = idle_.find(Key{c->key_, c->tls_ctx_.get()});
  if (it == idle_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), c), v.end());
}

void UpstreamPool::close(UpstreamConn* c) {
  if (c->closing_) return;
  forget_idle(c);
  c->closing_ = true;
  c->user_ = nullptr;
  loop_->timers().cancel(c->idle_timer_);
  loop_->cancel(c->connect_);
  loop_->cancel(c->recv_);
  loop_->cancel(c->send_);
  c->maybe_destroy();
}

size_t UpstreamPool::idle() const {
  size_t n = 0;
  for (auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace portico::http
