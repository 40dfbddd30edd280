#include "proxy/l4/tcp_proxy.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/l4/tls_pipe.hpp"
#include "proxy/upstream/hash.hpp"

namespace portico::l4 {

namespace {

enum Tag : uint8_t { kConnect, kDownRecv, kDownSend, kUpRecv, kUpSend };
constexpr size_t kMaxIov = 16;
// While the receiving peer takes every write whole, a direction reads up to
// this much before its (posted) flush, whatever limits.buffer says: on
// loopback a relay that writes 256 KiB at a time instead of 64 KiB wakes the
// receiver a quarter as often and costs about a third less CPU. Once a write
// comes back short the peer is slow, and limits.buffer is the bound again.
constexpr size_t kBatchBytes = 256 * 1024;
// A splicing direction's pipe: the same batch, never beyond the 1 MiB an
// unprivileged process may give a pipe (fs.pipe-max-size).
constexpr size_t kMaxPipe = 1024 * 1024;

class TcpSession final : public Session, private io::OpHandler, private io::TimerHandler,
                         private io::Deferred {
 public:
  TcpSession(const TcpSessionParams& p, int client_fd, int upstream_fd, upstream::Lease lease,
             uint64_t hash);
  bool start(tls::ServerContext* tls);
  void abort() override {
    close(false);
    maybe_destroy();  // now, if no operation was armed
  }

 private:
  // One direction of the relay: bytes read from `from` queued for `to`.
  struct Direction {
    int from = -1;
    int to = -1;
    io::Op recv;
    io::Op send;
    io::BufferQueue queue;
    iovec iov[kMaxIov];     // what the send in flight writes (one sendmsg per batch)
    msghdr msg{};
    bool eof = false;       // `from` sent FIN
    bool shut = false;      // we sent FIN to `to`
    bool paused = false;    // recv cancelled for back-pressure
    bool keeps_up = true;   // the last send was taken whole
    size_t sending = 0;     // bytes the send in flight offers
    uint64_t bytes = 0;
    // Splicing (see start_splice): recv and send then move bytes through
    // the pipe, which is filled only when empty.
    bool may_splice = false;
    bool want_splice = false;  // switch once what is queued has gone out
    bool splicing = false;
    io::Pipe pipe;
    size_t in_pipe = 0;        // bytes in the pipe
  };

  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  // The posted flush: what the reads of this turn queued goes out in one send
  // per direction (plaintext relay; the TLS side encrypts as it reads).
  void run_deferred() override;
  void on_connected(int res);
  // Connect failed: another endpoint if one is left (nothing was sent yet).
  bool try_next_endpoint(upstream::Outcome why);
  void connect_upstream();  // to lease_'s endpoint, under the connect deadline
  void end_lease(upstream::Outcome outcome) {
    if (lease_) cluster_->release(lease_, outcome, env_->loop->now());
  }
  void on_recv(Direction& d, io::Op& op, int res);
  void on_send(Direction& d, int res);
  // A plain direction that reads a full buffer carries a bulk stream: once
  // its queue is out it moves bytes with splice(2), socket -> pipe -> socket,
  // and they never cross user space (HAProxy's splice-auto, on by default).
  bool start_splice(Direction& d);
  void splice_in(Direction& d);
  void splice_out(Direction& d);
  void on_splice_in(Direction& d, int res);
  void on_splice_out(Direction& d, int res);
  void arm_recv(Direction& d) { env_->loop->recv(d.recv, d.from); }
  void send_front(Direction& d);
  void before_write(const Direction& d) {
    if (nodelay_due_ && d.to == upstream_fd_) {
      io::set_nodelay(upstream_fd_);
      nodelay_due_ = false;
    }
  }
  void maybe_resume(Direction& d);
  // Bytes a direction may queue before it stops reading (see kBatchBytes).
  size_t read_limit(const Direction& d) const {
    return d.keeps_up && !encrypted(d) ? std::max(high_water_, kBatchBytes) : high_water_;
  }
  void shut_write(Direction& d);
  void close(bool reset_peers);
  void maybe_destroy();
  // TLS seam (listener tls): client bytes are decrypted into down_.queue;
  // up_.queue (plaintext) is encrypted into wire_, which up_.send sends.
  bool encrypted(const Direction& d) const { return tls_ && &d == &up_; }
  io::BufferQueue& outq(Direction& d) { return encrypted(d) ? wire_ : d.queue; }
  size_t queued(Direction& d) const { return d.queue.bytes() + (encrypted(d) ? wire_.bytes() : 0); }
  void flush_client_tls();
  void tls_failed(const char* where);
  TimeNs deadline() const;
  bool any_armed() const {
    return posted() || connect_.armed() || down_.recv.armed() || down_.send.armed() || up_.recv.armed() ||
           up_.send.armed();
  }

  WorkerEnv* env_;
  Generation* gen_;
  const conf::Listener* listener_;
  ListenerShared* shared_;
  ListenerStats* stats_;
  EndpointStats* ep_stats_;
  upstream::WorkerCluster* cluster_;
  upstream::Lease lease_;        // the endpoint; pins its endpoint set
  upstream::Exclusion tried_;    // endpoints whose connect failed
  uint64_t hash_;
  uint32_t connect_tries_ = 0;
  int client_fd_;
  int upstream_fd_;
  io::Op connect_;
  Direction down_;  // client -> upstream
  Direction up_;    // upstream -> client
  io::Timer timer_;
  TimeNs last_activity_ = 0;
  TimeNs idle_ns_;
  size_t high_water_;
  bool connected_ = false;
  bool closing_ = false;
  bool reset_ = false;
  // TCP_NODELAY on the upstream socket is set before the first write to it,
  // not at connect: Nagle only ever holds back writes, and a session whose
  // client never sends (server-speaks-first, a probe, a storm) saves the call.
  bool nodelay_due_ = false;
  uint8_t pp_[kProxyV1Max + 1];  // the PROXY header to send upstream first
  size_t pp_len_ = 0;
  std::unique_ptr<TlsPipe> tls_;
  io::BufferQueue wire_;  // ciphertext to the client
  TimeNs accepted_ = 0;
  bool tls_close_sent_ = false;
};

TcpSession::TcpSession(const TcpSessionParams& p, int client_fd, int upstream_fd,
                       upstream::Lease lease, uint64_t hash)
    : env_(p.env),
      gen_(p.gen),
      listener_(p.listener),
      shared_(p.shared),
      stats_(p.stats),
      ep_stats_(p.gen->endpoint_stats(*p.cluster, lease.endpoint(), lease.address())),
      cluster_(p.gen->cluster(*p.cluster)),
      lease_(std::move(lease)),
      hash_(hash),
      client_fd_(client_fd),
      upstream_fd_(upstream_fd),
      connect_(this, kConnect),
      timer_(this, 0),
      idle_ns_(p.listener->timeouts.idle.count()),
      high_water_(std::max<size_t>(p.listener->limits.buffer, 1)) {
  down_.from = client_fd;
  down_.to = upstream_fd;
  down_.recv.bind(this, kDownRecv);
  down_.send.bind(this, kDownSend);
  up_.from = upstream_fd;
  up_.to = client_fd;
  up_.recv.bind(this, kUpRecv);
  up_.send.bind(this, kUpSend);
  down_.may_splice = up_.may_splice = p.listener->splices();
  ++gen_->refs;
  env_->add(this);
  stats_->accepted.add(), stats_->active.add(), ep_stats_->requests.add(), ep_stats_->active.add();
  pp_len_ = outbound_proxy_header(p.cluster->proxy_protocol, client_fd, p.proxied, pp_, sizeof pp_);
}

bool TcpSession::start(tls::ServerContext* tls) {
  accepted_ = env_->loop->now();
  if (tls) {
    tls_ = std::make_unique<TlsPipe>(&stats_->tls);
    if (!tls->accept(tls_->conn())) return false;
  }
  connect_upstream();
  return true;
}

void TcpSession::connect_upstream() {
  tried_.add(lease_.endpoint());
  ++connect_tries_;
  const conf::Address& a = lease_.address();
  TimeNs connect_ns = std::min(listener_->timeouts.connect.count(),
                               static_cast<int64_t>(conf::Duration::max().count()));
  if (const conf::Cluster* c = gen_->config->find_cluster(*listener_->cluster))
    connect_ns = std::min<TimeNs>(connect_ns, c->connect_timeout.count());
  env_->loop->connect(connect_, upstream_fd_, a.sa(), a.len);
  env_->loop->timers().arm(timer_, env_->loop->now() + connect_ns);
}

// The idle deadline, or the handshake's while a TLS handshake is running.
TimeNs TcpSession::deadline() const {
  TimeNs d = last_activity_ + idle_ns_;
  if (tls_ && !tls_->handshake_done()) d = std::min<TimeNs>(d, accepted_ + listener_->timeouts.handshake.count());
  return d;
}

void TcpSession::on_complete(io::Op& op, int res) {
  switch (op.tag()) {
    case kConnect: on_connected(res); break;
    case kDownRecv: down_.splicing ? on_splice_in(down_, res) : on_recv(down_, op, res); break;
    case kUpRecv: up_.splicing ? on_splice_in(up_, res) : on_recv(up_, op, res); break;
    case kDownSend: down_.splicing ? on_splice_out(down_, res) : on_send(down_, res); break;
    case kUpSend: up_.splicing ? on_splice_out(up_, res) : on_send(up_, res); break;
  }
  if (closing_) maybe_destroy();
}

void TcpSession::on_connected(int res) {
  if (closing_) return;
  if (res < 0) {
    LOG_DEBUG("tcp %s: upstream %s: connect: %s", listener_->name.c_str(),
              lease_.address().str().c_str(), std::strerror(-res));
    ep_stats_->connect_failures.add();
    if (try_next_endpoint(upstream::Outcome::kConnectFailure)) return;
    // Refused or reset upstream: the client sees a reset too, at once.
    close(res == -ECONNREFUSED || res == -ECONNRESET);
    return;
  }
  connected_ = true;
  if (pp_len_ > 0) io::append(env_->loop->pool(), down_.queue, pp_, pp_len_), send_front(down_);
  cluster_->connected(lease_);
  nodelay_due_ = lease_.address().family() != AF_UNIX;
  last_activity_ = env_->loop->now();
  env_->loop->timers().arm(timer_, deadline());
  arm_recv(down_);
  arm_recv(up_);
}

bool TcpSession::try_next_endpoint(upstream::Outcome why) {
  constexpr uint32_t kMaxConnectTries = 3;
  end_lease(why);
  if (closing_ || connect_tries_ >= kMaxConnectTries || !cluster_) return false;
  if (cluster_->acquire({env_->loop->now(), hash_, &tried_}, true, &lease_) != upstream::PickError::kNone)
    return false;
  if (tried_.contains(lease_.endpoint())) {  // nothing new to try
    lease_ = upstream::Lease();
    return false;
  }
  std::string err;
  int fd = io::open_socket(lease_.address().family(), SOCK_STREAM, err);
  if (fd < 0) {
    lease_ = upstream::Lease();
    return false;
  }
  // The failed socket has no operation armed: its connect completed.
  env_->loop->close(upstream_fd_);
  upstream_fd_ = fd;
  down_.to = fd;
  up_.from = fd;
  LOG_DEBUG("tcp %s: trying upstream %s", listener_->name.c_str(), lease_.address().str().c_str());
  ep_stats_ = gen_->endpoint_stats(cluster_->config(), lease_.endpoint(), lease_.address());
  connect_upstream();
  return true;
}

void TcpSession::on_recv(Direction& d, io::Op& op, int res) {
  if (res > 0) {
    io::Buffer* b = op.take_buffer();
    if (closing_ || d.shut) {  // nowhere to send it any more
      env_->loop->pool().release(b);
      return;
    }
    last_activity_ = env_->loop->now();
    d.bytes += static_cast<uint64_t>(res);
    (d.from == client_fd_ ? stats_->bytes_in : stats_->bytes_out).add(static_cast<uint64_t>(res));
    if (tls_ && &d == &down_) {
      tls::Status st = tls_->deliver(env_->loop->pool(), b, d.queue, wire_);
      if (st == tls::Status::kError) {
        tls_failed(tls_->handshake_done() ? "read" : "handshake");
        return;
      }
      if (!d.queue.empty() && !d.send.armed()) send_front(d);
      flush_client_tls();  // handshake flights, tickets
      if (st == tls::Status::kClosed) {  // close_notify: the client's half-close
        on_recv(d, op, 0);
        return;
      }
    } else {
      // A small read goes into the free space of the last queued buffer, so a
      // peer dribbling small writes towards a side that does not read ties up
      // about high_water_ / buffer_size buffers, not one buffer per write.
      io::Buffer* tail = d.queue.back();
      const uint32_t cap = env_->loop->pool().size();
      if (tail && b->remaining() <= cap / 4 && cap - tail->len >= b->remaining()) {
        io::append(env_->loop->pool(), d.queue, b->readable(), b->remaining());
        env_->loop->pool().release(b);
      } else {
        d.queue.push(b);
      }
      if (encrypted(d)) flush_client_tls();
      else if (!d.send.armed()) env_->loop->post(*this);
      if (d.may_splice && static_cast<uint32_t>(res) >= env_->loop->pool().size() && !d.paused &&
          d.recv.armed()) {
        d.want_splice = d.paused = true;  // maybe_resume starts it
        env_->loop->cancel(d.recv);
      }
    }
    if (closing_) return;
    if (queued(d) >= read_limit(d) && !d.paused && d.recv.armed()) {
      d.paused = true;
      env_->loop->cancel(d.recv);
    }
    return;
  }
  if (closing_) return;
  if (res == 0) {  // FIN from d.from
    if (d.eof) return;  // after a close_notify
    d.eof = true;
    if (tls_ && &d == &down_ && !tls_->handshake_done()) {
      LOG_DEBUG("tcp %s: client closed during the TLS handshake", listener_->name.c_str());  // counted by the pipe
      close(false);
      return;
    }
    if (encrypted(d)) {
      flush_client_tls();  // close_notify, then FIN, once the queue is out
    } else if (d.queue.empty() && !d.send.armed()) {
      shut_write(d);
    }
  } else if (res == -ECANCELED) {
    maybe_resume(d);
    return;
  } else {
    LOG_DEBUG("tcp %s: recv from %s: %s", listener_->name.c_str(),
              d.from == client_fd_ ? "client" : "upstream", std::strerror(-res));
    close(true);  // a reset on one side resets the other
    return;
  }
  if (down_.shut && up_.shut) close(false);
}

// Everything queued goes out in one sendmsg (up to kMaxIov buffers).
void TcpSession::send_front(Direction& d) {
  d.msg = {};
  d.msg.msg_iov = d.iov;
  d.msg.msg_iovlen = io::gather(outq(d), d.iov, kMaxIov, &d.sending);
  // The source already ended and this send takes the rest: our FIN follows
  // as soon as it completes, so MSG_MORE lets the kernel hold the last bytes
  // for it and send data and FIN in one segment (one packet and one wake-up
  // of the peer fewer; the shutdown or close pushes it out).
  const bool fin_next = d.eof && !encrypted(d) && d.sending == outq(d).bytes();
  before_write(d);
  env_->loop->sendmsg(d.send, d.to, &d.msg, fin_next ? MSG_MORE : 0);
}

void TcpSession::run_deferred() {
  if (closing_) {
    maybe_destroy();
    return;
  }
  for (Direction* d : {&down_, &up_})
    if (!d->send.armed() && !d->queue.empty() && !encrypted(*d)) send_front(*d);
}

void TcpSession::on_send(Direction& d, int res) {
  if (closing_) return;
  if (res < 0) {
    LOG_DEBUG("tcp %s: send to %s: %s", listener_->name.c_str(),
              d.to == client_fd_ ? "client" : "upstream", std::strerror(-res));
    close(true);
    return;
  }
  last_activity_ = env_->loop->now();
  d.keeps_up = static_cast<size_t>(res) == d.sending;
  io::consume(env_->loop->pool(), outq(d), static_cast<size_t>(res));
  if (encrypted(d)) {
    flush_client_tls();
    if (closing_) return;
  } else if (!d.queue.empty()) {
    send_front(d);
  } else if (d.eof && !d.shut) {
    shut_write(d);
    if (down_.shut && up_.shut) {
      close(false);
      return;
    }
  }
  maybe_resume(d);
}

// Passes d's FIN on. When the other direction is already finished, the close
// that follows sends the FIN (nothing is left unread on either socket), so
// the shutdown call is skipped.
void TcpSession::shut_write(Direction& d) {
  Direction& other = &d == &down_ ? up_ : down_;
  if (!other.shut) ::shutdown(d.to, SHUT_WR);
  d.shut = true;
}

void TcpSession::maybe_resume(Direction& d) {
  if (!d.paused || d.recv.armed() || d.eof || closing_) return;
  if (d.want_splice) {
    if (!d.queue.empty() || d.send.armed()) return;
    d.paused = d.want_splice = false;
    if (start_splice(d)) return;  // else (no pipe to be had) keep copying
    arm_recv(d);
    return;
  }
  if (queued(d) > high_water_ / 2) return;
  d.paused = false;
  arm_recv(d);
}

bool TcpSession::start_splice(Direction& d) {
  d.may_splice = false;  // one attempt per direction
  d.pipe = env_->loop->pipes().acquire(static_cast<uint32_t>(std::min(std::max(high_water_, kBatchBytes), kMaxPipe)));
  if (!d.pipe) return false;
  d.splicing = true;
  stats_->spliced.add();
  splice_in(d);
  return true;
}

// The pipe is empty here, and takes what the queue would (read_limit): the
// whole pipe while the receiver takes every move whole, limits.buffer once
// it falls behind.
void TcpSession::splice_in(Direction& d) {
  env_->loop->splice(d.recv, d.from, d.pipe.w, std::min<size_t>(read_limit(d), d.pipe.cap), true);
}

void TcpSession::on_splice_in(Direction& d, int res) {
  if (res > 0) d.in_pipe += static_cast<size_t>(res);  // even when closing: the pipe's fate depends on it
  if (closing_) return;
  if (res > 0) {
    last_activity_ = env_->loop->now();
    d.bytes += static_cast<uint64_t>(res);
    (d.from == client_fd_ ? stats_->bytes_in : stats_->bytes_out).add(static_cast<uint64_t>(res));
    splice_out(d);
    return;
  }
  if (res == 0) {  // FIN, with the pipe empty: pass it on
    d.eof = true;
    shut_write(d);
    if (down_.shut && up_.shut) close(false);
    return;
  }
  LOG_DEBUG("tcp %s: splice from %s: %s", listener_->name.c_str(), d.from == client_fd_ ? "client" : "upstream",
            std::strerror(-res));
  close(true);
}

void TcpSession::on_splice_out(Direction& d, int res) {
  if (res > 0) d.in_pipe -= std::min<size_t>(d.in_pipe, static_cast<size_t>(res));
  if (closing_) return;
  if (res <= 0) {  // 0 cannot come from a pipe that holds data: treat it as the error it would be
    LOG_DEBUG("tcp %s: splice to %s: %s", listener_->name.c_str(), d.to == client_fd_ ? "client" : "upstream",
              res < 0 ? std::strerror(-res) : "nothing moved");
    close(true);
    return;
  }
  last_activity_ = env_->loop->now();
  d.keeps_up = static_cast<size_t>(res) == d.sending;
  if (d.in_pipe > 0) splice_out(d);
  else splice_in(d);
}

void TcpSession::splice_out(Direction& d) {
  d.sending = d.in_pipe;
  before_write(d);
  env_->loop->splice(d.send, d.to, d.pipe.r, d.in_pipe, false);
}

void TcpSession::on_timer(io::Timer&) {
  if (closing_) return;
  TimeNs now = env_->loop->now();
  if (!connected_) {
    LOG_DEBUG("tcp %s: upstream %s: connect timeout", listener_->name.c_str(),
              lease_.address().str().c_str());
    ep_stats_->connect_failures.add();
    if (!connect_.armed() && try_next_endpoint(upstream::Outcome::kTimeout)) return;
    end_lease(upstream::Outcome::kTimeout);
    close(false);
    maybe_destroy();
    return;
  }
  TimeNs d = deadline();
  if (now < d) {
    env_->loop->timers().arm(timer_, d);
    return;
  }
  if (tls_ && !tls_->handshake_done()) {
    tls_->handshake_timed_out();
    LOG_DEBUG("tcp %s: TLS handshake timeout", listener_->name.c_str());
  } else {
    LOG_DEBUG("tcp %s: idle timeout", listener_->name.c_str());
  }
  close(false);
  maybe_destroy();
}

void TcpSession::close(bool reset_peers) {
  if (closing_) return;
  closing_ = true;
  // A connect still in flight reads the lease's address: released in maybe_destroy then.
  if (!connect_.armed()) end_lease(connected_ ? upstream::Outcome::kSuccess : upstream::Outcome::kConnectFailure);
  reset_ = reset_peers;
  env_->loop->timers().cancel(timer_);
  env_->loop->cancel(connect_);
  env_->loop->cancel(down_.recv);
  env_->loop->cancel(up_.recv);
  env_->loop->cancel(down_.send);
  env_->loop->cancel(up_.send);
  // abort() is called from outside a completion: finish here if nothing is armed.
}

void TcpSession::maybe_destroy() {
  if (any_armed()) return;
  // Every operation has completed: nothing refers to the fds or buffers.
  lease_ = upstream::Lease();  // still held only after an abort during connect: no blame
  if (reset_) {
    io::set_reset_on_close(client_fd_);
    io::set_reset_on_close(upstream_fd_);
  }
  env_->loop->close(client_fd_);
  env_->loop->close(upstream_fd_);
  for (Direction* d : {&down_, &up_}) {
    while (!d->queue.empty()) env_->loop->pool().release(d->queue.pop());
    env_->loop->pipes().release(d->pipe, d->in_pipe == 0);
  }
  while (!wire_.empty()) env_->loop->pool().release(wire_.pop());
  LOG_DEBUG("tcp %s: closed, %llu bytes up, %llu bytes down", listener_->name.c_str(),
            static_cast<unsigned long long>(down_.bytes), static_cast<unsigned long long>(up_.bytes));
  shared_->active.fetch_sub(1, std::memory_order_relaxed);
  stats_->active.sub(), ep_stats_->active.sub();
  --gen_->refs;
  env_->remove(this);
  delete this;
}

// Client-bound output under TLS: encrypt what the upstream sent, send the
// ciphertext; at the upstream's EOF, close_notify then FIN.
void TcpSession::flush_client_tls() {
  if (closing_ || up_.send.armed()) return;
  if (!up_.queue.empty() &&
      tls_->encrypt(env_->loop->pool(), up_.queue, wire_, high_water_) == tls::Status::kError) {
    tls_failed("write");
    return;
  }
  if (!wire_.empty()) {
    send_front(up_);
    return;
  }
  if (!up_.eof || up_.shut || !up_.queue.empty()) return;
  if (tls_->handshake_done() && !tls_close_sent_) {
    tls_close_sent_ = true;
    tls_->shutdown(env_->loop->pool(), wire_);
    if (!wire_.empty()) {
      send_front(up_);
      return;
    }
  }
  ::shutdown(client_fd_, SHUT_WR);
  up_.shut = true;
  if (down_.shut) close(false);
}

void TcpSession::tls_failed(const char* where) {
  const tls::TlsError& e = tls_->conn().error();
  LOG_DEBUG("tcp %s: TLS %s failed: %s (%s)", listener_->name.c_str(), where, tls::kind_name(e.kind), e.reason);
  if (!up_.send.armed())  // the alert, best effort, never blocking
    for (io::Buffer* b = wire_.front(); b; b = b->next)
      if (::send(client_fd_, b->readable(), b->remaining(), MSG_DONTWAIT | MSG_NOSIGNAL) != ssize_t(b->remaining()))
        break;
  close(false);
}

}  // namespace

size_t outbound_proxy_header(conf::ProxyProtocol mode, int client_fd, const ProxyHeader* proxied,
                             uint8_t* out, size_t cap) {
  if (mode == conf::ProxyProtocol::kOff) return 0;
  sockaddr_storage src{}, dst{};
  socklen_t sl = sizeof src, dl = sizeof dst;
  if (proxied && !proxied->local) {
    src = proxied->src;
    dst = proxied->dst;
  } else if (::getpeername(client_fd, reinterpret_cast<sockaddr*>(&src), &sl) < 0 ||
             ::getsockname(client_fd, reinterpret_cast<sockaddr*>(&dst), &dl) < 0) {
    src.ss_family = dst.ss_family = AF_UNSPEC;
  }
  const auto* s = reinterpret_cast<const sockaddr*>(&src);
  const auto* d = reinterpret_cast<const sockaddr*>(&dst);
  if (mode == conf::ProxyProtocol::kV1) return build_proxy_v1(s, d, reinterpret_cast<char*>(out), cap);
  return build_proxy_v2(s, d, out, cap);
}

void start_tcp_session(const TcpSessionParams& p, int client_fd) {
  const uint32_t limit = p.listener->limits.max_connections;
  if (p.shared->active.fetch_add(1, std::memory_order_relaxed) >= limit) {
    p.shared->active.fetch_sub(1, std::memory_order_relaxed);
    p.stats->refused.add();
    LOG_DEBUG("tcp %s: connection limit %u reached, closing new connection", p.listener->name.c_str(),
              limit);
    p.env->loop->close(client_fd);
    return;
  }
  upstream::WorkerCluster* wc = p.gen->cluster(*p.cluster);
  uint64_t hash = 0;
  if (wc && (wc->config().lb == conf::LbPolicy::kRingHash || wc->config().lb == conf::LbPolicy::kMaglev)) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(client_fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
      hash = upstream::hash_client_ip(reinterpret_cast<sockaddr*>(&ss));
  }
  upstream::Lease lease;
  upstream::PickError pe = wc ? wc->acquire({p.env->loop->now(), hash, nullptr}, true, &lease)
                              : upstream::PickError::kNoEndpoint;
  std::string err;
  int ufd = lease ? io::open_socket(lease.address().family(), SOCK_STREAM, err) : -1;
  if (ufd < 0) {
    LOG_WARN("tcp %s: no upstream: %s", p.listener->name.c_str(),
             lease ? err.c_str()
                   : pe == upstream::PickError::kOverflow ? "every endpoint is at max_connections/max_pending"
                                                          : "no healthy endpoint");
    lease = upstream::Lease();
    p.shared->active.fetch_sub(1, std::memory_order_relaxed);
    p.env->loop->close(client_fd);
    return;
  }
  // TCP_NODELAY comes from the listening socket (io::open_listener).
  auto* s = new TcpSession(p, client_fd, ufd, std::move(lease), hash);
  if (!s->start(p.tls)) s->abort();
}

}  // namespace portico::l4
