#include "proxy/l4/udp_proxy.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/upstream/hash.hpp"

namespace portico::l4 {

namespace {
constexpr size_t kMaxDatagram = 65536;
}  // namespace



// One client address: a connected upstream socket and an idle deadline.
class UdpSession final : public Session, private io::OpHandler, private io::TimerHandler {
 public:
  UdpSession(UdpListener* owner, Generation* gen, const PeerKey& key, int upstream_fd, TimeNs idle_ns)
      : owner_(owner),
        gen_(gen),
        key_(key),
        fd_(upstream_fd),
        recv_(this, 0),
        timer_(this, 0),
        idle_ns_(idle_ns),
        stats_(owner->stats_) {
    ++gen_->refs;
    owner_->env_->add(this);
    stats_->accepted.add(), stats_->active.add();
  }

  void start() {
    owner_->env_->loop->recv(recv_, fd_, MSG_TRUNC);
    touch();
    owner_->env_->loop->timers().arm(timer_, last_ + idle_ns_);
  }

  // The client's datagram, sent to `local` (a wildcard listener's address
  // the client used; replies leave from it).
  void forward(const void* data, size_t len, const io::LocalAddr& local) {
    local_ = local;
    touch();
    stats_->bytes_in.add(len);
    if (::send(fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
      LOG_DEBUG("udp %s: send upstream: %s", owner_->listener_->name.c_str(), std::strerror(errno));
  }

  void abort() override {
    end();
    maybe_destroy();
  }
  const PeerKey& key() const { return key_; }

 private:
  void touch() { last_ = owner_->env_->loop->now(); }

  void on_complete(io::Op& op, int res) override {
    if (res > 0) {
      io::Buffer* b = op.take_buffer();
      if (!closing_ && static_cast<size_t>(res) <= owner_->env_->loop->pool().size()) {
        touch();
        to_client(b->data, static_cast<size_t>(res));
      } else if (!closing_) {
        LOG_DEBUG("udp %s: dropped a %d-byte datagram (buffer_size is %u)",
                  owner_->listener_->name.c_str(), res, owner_->env_->loop->pool().size());
      }
      owner_->env_->loop->pool().release(b);
      return;
    }
    // Final completion. An empty datagram is one (UDP has no end of stream):
    // relayed like any other, as nginx does. ICMP errors (ECONNREFUSED) end
    // nothing for UDP. Either way, listen on.
    if (!closing_ && res == 0) {
      touch();
      to_client(nullptr, 0);
    }
    if (!closing_ && res == -ECONNREFUSED) {
      // ICMP port unreachable: nothing listens at this endpoint (now). The
      // session ends, so the client's next datagram picks an endpoint again
      // instead of staying pinned to a dead one until the idle timeout.
      LOG_DEBUG("udp %s: upstream refused (port unreachable); session ended", owner_->listener_->name.c_str());
      end();
    }
    if (!closing_ && res != -ECANCELED) {
      owner_->env_->loop->recv(recv_, fd_, MSG_TRUNC);
      return;
    }
    if (!closing_) end();
    maybe_destroy();
  }

  void to_client(const void* data, size_t len) {
    iovec iov{const_cast<void*>(data), len};
    msghdr mh{};
    mh.msg_name = &key_.addr;
    mh.msg_namelen = key_.len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) uint8_t control[io::kPktinfoSpace];
    io::set_pktinfo(mh, local_, control);
    if (::sendmsg(owner_->fd_, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
      LOG_DEBUG("udp %s: send to client: %s", owner_->listener_->name.c_str(), std::strerror(errno));
    else
      stats_->bytes_out.add(len);
  }

  void on_timer(io::Timer&) override {
    TimeNs deadline = last_ + idle_ns_;
    if (owner_->env_->loop->now() < deadline) {
      owner_->env_->loop->timers().arm(timer_, deadline);
      return;
    }
    LOG_DEBUG("udp %s: session expired", owner_->listener_->name.c_str());
    end();
    maybe_destroy();
  }

  void end() {
    if (closing_) return;
    closing_ = true;
    owner_->env_->loop->timers().cancel(timer_);
    owner_->env_->loop->cancel(recv_);
    owner_->sessions_.erase(key_);  // new datagrams from this client start a new session
  }

  void maybe_destroy() {
    if (recv_.armed()) return;
    owner_->env_->loop->close(fd_);
    stats_->active.sub();
    --gen_->refs;
    owner_->env_->remove(this);
    owner_->session_gone(this);
    delete this;
  }

  UdpListener* owner_;
  Generation* gen_;
  PeerKey key_;
  io::LocalAddr local_;
  int fd_;
  io::Op recv_;
  io::Timer timer_;
  TimeNs last_ = 0;
  TimeNs idle_ns_;
  ListenerStats* stats_;  // the worker's slot for this listener name: outlives the session
  bool closing_ = false;
};

UdpListener::UdpListener(WorkerEnv* env, int fd, ListenerShared* shared)
    : env_(env), fd_(fd), shared_(shared), recv_(this, 0), buf_(kMaxDatagram, '\0') {}

UdpListener::~UdpListener() {
  if (fd_ >= 0) env_->loop->close(fd_);
}

void UdpListener::configure(Generation* gen, const conf::Listener* listener, const conf::Cluster* cluster) {
  gen_ = gen;
  listener_ = listener;
  cluster_ = cluster;
  stats_ = env_->stats ? env_->stats->listener(listener->name) : WorkerStats::listener_sink();
  if (!wildcard_ && listener->bind.family() != AF_UNIX && io::is_wildcard(listener->bind.sa())) {
    wildcard_ = true;
    io::enable_pktinfo(fd_, listener->bind.family());
  }
}

void UdpListener::start() { arm(); }

void UdpListener::arm() {
  iov_ = {buf_.data(), buf_.size()};
  msg_ = {};
  msg_.msg_name = &peer_;
  msg_.msg_namelen = sizeof peer_;
  msg_.msg_iov = &iov_;
  msg_.msg_iovlen = 1;
  if (wildcard_) {
    msg_.msg_control = control_;
    msg_.msg_controllen = sizeof control_;
  }
  env_->loop->recvmsg(recv_, fd_, &msg_);
}

void UdpListener::stop() {
  if (stopping_) return;
  stopping_ = true;
  env_->loop->cancel(recv_);
  // Sessions unlink themselves from sessions_ as they end.
  while (!sessions_.empty()) sessions_.begin()->second->abort();
}

void UdpListener::session_gone(UdpSession*) {
  --live_;
  shared_->active.fetch_sub(1, std::memory_order_relaxed);
}

void UdpListener::on_complete(io::Op&, int res) {
  if (stopping_) return;
  if (res >= 0) {
    if (msg_.msg_flags & MSG_TRUNC) {
      LOG_DEBUG("udp %s: dropped an oversized datagram", listener_->name.c_str());
    } else {
      on_datagram(static_cast<size_t>(res));
    }
  } else if (res != -ECANCELED) {
    LOG_DEBUG("udp %s: recvmsg: %s", listener_->name.c_str(), std::strerror(-res));
  }
  arm();
}

void UdpListener::on_datagram(size_t len) {
  if (len > env_->loop->pool().size()) {  // the replies could not be relayed either
    LOG_DEBUG("udp %s: dropped a %zu-byte datagram (buffer_size is %u)", listener_->name.c_str(), len,
              env_->loop->pool().size());
    return;
  }
  PeerKey key;
  std::memcpy(&key.addr, &peer_, msg_.msg_namelen);
  key.len = msg_.msg_namelen;
  const io::LocalAddr local = wildcard_ ? io::read_pktinfo(msg_) : io::LocalAddr{};
  auto it = sessions_.find(key);
  if (it != sessions_.end()) {
    it->second->forward(buf_.data(), len, local);
    return;
  }
  if (shared_->active.fetch_add(1, std::memory_order_relaxed) >= listener_->limits.udp_sessions) {
    shared_->active.fetch_sub(1, std::memory_order_relaxed);
    stats_->refused.add();
    LOG_DEBUG("udp %s: session limit %u reached, datagram dropped", listener_->name.c_str(),
              listener_->limits.udp_sessions);
    return;
  }
  upstream::WorkerCluster* wc = gen_->cluster(*cluster_);
  uint64_t hash = 0;
  if (wc && (wc->config().lb == conf::LbPolicy::kRingHash || wc->config().lb == conf::LbPolicy::kMaglev))
    hash = upstream::hash_client_ip(reinterpret_cast<const sockaddr*>(&peer_));
  std::optional<conf::Address> picked = wc ? wc->pick_address(env_->loop->now(), hash) : std::nullopt;
  const conf::Address* ep = picked ? &*picked : nullptr;
  std::string err;
  int fd = ep ? io::open_socket(ep->family(), SOCK_DGRAM, err) : -1;
  if (fd >= 0 && ::connect(fd, ep->sa(), ep->len) < 0) {
    err = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  if (fd < 0) {
    shared_->active.fetch_sub(1, std::memory_order_relaxed);
    LOG_WARN("udp %s: no upstream socket: %s", listener_->name.c_str(),
             ep ? err.c_str() : "no healthy endpoint");
    return;
  }
  auto* s = new UdpSession(this, gen_, key, fd, listener_->timeouts.idle.count());
  ++live_;
  sessions_.emplace(s->key(), s);
  s->start();
  s->forward(buf_.data(), len, local);
}

}  // namespace portico::l4
