// DnsModule core: engine lifetime, reload, dispatch of the engine's actions
// to sockets, and deferred freeing of closed parts. The sockets themselves are
// in dns_udp.cpp and dns_tcp.cpp.
#include "proxy/modules/dns_module.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/modules/dns_parts.hpp"

namespace portico::modules {

namespace {

enum TimerTag : uint8_t { kWake, kReap };

// Query IDs and upstream choice from BoringSSL's CSPRNG, fetched in batches.
class CryptoRandom final : public dnscache::Random {
 public:
  uint64_t next_u64() override {
    if (pos_ == kCount) {
      RAND_bytes(reinterpret_cast<uint8_t*>(buf_), sizeof buf_);  // aborts rather than fails
      pos_ = 0;
    }
    return buf_[pos_++];
  }

 private:
  static constexpr size_t kCount = 32;
  uint64_t buf_[kCount] = {};
  size_t pos_ = kCount;
};

}  // namespace

DnsModule::DnsModule(io::Loop* loop, DnsLimits limits)
    : loop_(loop), limits_(limits), wake_(this, kWake), reap_timer_(this, kReap) {}

DnsModule::~DnsModule() {
  stop_all();
  // Normally everything is closed already (drain waits for stopped()); if not,
  // let the cancellations complete before the parts are freed (bounded).
  auto busy = [this] {
    return std::any_of(closing_.begin(), closing_.end(), [](const auto& p) { return p->busy(); });
  };
  for (int i = 0; i < 100 && busy(); ++i) loop_->run_once(10 * kNsPerMs);
  loop_->timers().cancel(wake_);
  loop_->timers().cancel(reap_timer_);
  if (busy()) {
    LOG_ERROR("dns: operations still armed at shutdown; leaking their sockets");
    for (auto& p : closing_)
      if (p->busy()) (void)p.release();
  }
  closing_.clear();
}

void DnsModule::apply(DnsWorkerConfig& c) {
  if (draining_ || !c.options) {
    for (auto& s : c.sockets) {  // nothing to run them for
      if (s.udp_fd >= 0) loop_->close(s.udp_fd);
      if (s.tcp_fd >= 0) loop_->close(s.tcp_fd);
    }
    c.sockets.clear();
    if (!c.options && engine_) {
      stop_all();
      engine_.reset();
      LOG_DEBUG("dns: server stopped");
    }
    return;
  }
  tcp_idle_ = c.tcp_idle;
  udp_batch_ = c.udp_batch;  // for sockets opened from now on
  std::string err;
  if (!engine_) {
    if (!rng_) rng_ = std::make_unique<CryptoRandom>();
    engine_ = dnscache::Engine::create(*c.options, *rng_, err);
    if (!engine_) LOG_ERROR("dns: %s; the DNS server is off on this worker", err.c_str());
  } else if (!engine_->reload(*c.options, err)) {
    LOG_ERROR("dns: reload: %s; keeping the previous DNS settings", err.c_str());
  }
  // Sockets: keep those the main thread handed over again (same fds), start new ones.
  std::vector<std::unique_ptr<UdpServer>> udp;
  std::vector<std::unique_ptr<TcpAcceptor>> tcp;
  for (const DnsWorkerConfig::Socket& s : c.sockets) {
    auto u = std::find_if(udp_.begin(), udp_.end(), [&](const auto& x) { return x && x->fd() == s.udp_fd; });
    if (u != udp_.end()) {
      udp.push_back(std::move(*u));
    } else if (s.udp_fd >= 0) {
      udp.push_back(std::make_unique<UdpServer>(this, s, next_socket_id_++, udp_batch_));
    }
    auto t = std::find_if(tcp_.begin(), tcp_.end(), [&](const auto& x) { return x && x->fd() == s.tcp_fd; });
    if (t != tcp_.end()) {
      tcp.push_back(std::move(*t));
    } else if (s.tcp_fd >= 0) {
      tcp.push_back(std::make_unique<TcpAcceptor>(this, s));
    }
  }
  // Serve only with an engine; start() is a no-op on sockets already serving.
  if (engine_) {
    for (auto& u : udp) u->start();
    for (auto& t : tcp) t->start();
  }
  c.sockets.clear();  // the parts own the fds now
  for (auto& u : udp_)
    if (u) retire(std::move(u));
  for (auto& t : tcp_)
    if (t) retire(std::move(t));
  udp_ = std::move(udp);
  tcp_ = std::move(tcp);
}

void DnsModule::drain() {
  if (draining_) return;
  draining_ = true;
  stop_all();
  LOG_DEBUG("dns: draining");
}

void DnsModule::stop_all() {
  for (auto& u : udp_) retire(std::move(u));
  udp_.clear();
  for (auto& t : tcp_) retire(std::move(t));
  tcp_.clear();
  for (auto& [id, c] : clients_) retire(std::move(c));
  glue_.tcp_clients = 0;
  clients_.clear();
  for (auto& [token, u] : upstreams_) retire(std::move(u));
  glue_.upstream_sockets = 0;
  upstreams_.clear();
  resume_.clear();
  loop_->timers().cancel(wake_);
}

// ---------------------------------------------------------------- engine --

void DnsModule::client_query(std::span<const uint8_t> bytes, const dnscache::Peer& peer) {
  if (!engine_) return;
  engine_->on_client_query(bytes, peer, now(), actions_);
  dispatch();
}

void DnsModule::upstream_reply(std::span<const uint8_t> bytes, const dnscache::Peer& from, uint32_t token) {
  if (!engine_) return;
  engine_->on_upstream_reply(bytes, from, token, now(), actions_);
  dispatch();
}

void DnsModule::upstream_error(uint32_t token) {
  if (!engine_) return;
  engine_->on_upstream_error(token, now(), actions_);
  dispatch();
}

void DnsModule::on_timer(io::Timer& t) {
  if (t.tag() == kReap) {
    reap();
    return;
  }
  if (!engine_) return;
  engine_->on_timer(now(), actions_);
  dispatch();
}

// Never calls the engine: actions_ is being read.
void DnsModule::dispatch() {
  for (const dnscache::Send& s : actions_.sends()) {
    if (s.kind == dnscache::SendKind::kToClient) send_to_client(s);
    else start_upstream(s);
  }
  for (uint32_t token : actions_.released()) release_token(token);
  arm_wakeup();
}

void DnsModule::arm_wakeup() {
  if (!engine_ || actions_.next_wakeup == dnscache::kNever) {
    loop_->timers().cancel(wake_);
    return;
  }
  loop_->timers().arm(wake_, std::max<TimeNs>(actions_.next_wakeup.count(), loop_->now()));
}

void DnsModule::send_to_client(const dnscache::Send& s) {
  if (s.to.transport == dnscache::Transport::kUdp) {
    const auto id = static_cast<uint32_t>(s.to.conn_id >> 32);
    for (auto& u : udp_) {
      if (u->id() == id) {
        u->reply(s.bytes, s.to, static_cast<uint32_t>(s.to.conn_id));
        return;
      }
    }
    ++glue_.replies_lost;  // the socket was closed by a reload
    return;
  }
  auto it = clients_.find(s.to.conn_id);
  if (it == clients_.end()) {
    ++glue_.replies_lost;  // the client went away while its query was upstream
    return;
  }
  TcpClient* c = it->second.get();
  const bool synchronous = c == current_client_;
  if (synchronous) current_replied_ = true;
  if (c->reply(s.bytes, synchronous)) {
    resume_.push_back(s.to.conn_id);
    schedule_reap();
  }
}

void DnsModule::start_upstream(const dnscache::Send& s) {
  if (upstreams_.count(s.token)) release_token(s.token);  // the engine never reuses a live token
  const bool udp = s.kind == dnscache::SendKind::kToUpstreamUdp;
  std::string err;
  int fd = io::open_socket(s.to.addr.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, err);
  if (fd < 0) {
    ++glue_.upstream_socket_errors;
    LOG_DEBUG("dns: upstream socket: %s", err.c_str());
    return;  // the engine times the attempt out and tries the next upstream
  }
  std::unique_ptr<Part> part;
  if (udp) {
    auto u = std::make_unique<UpstreamUdp>(this, s.token, s.to, fd);
    if (!u->start(s.bytes)) {
      ++glue_.upstream_socket_errors;
      retire(std::move(u));
      return;
    }
    part = std::move(u);
  } else {
    auto t = std::make_unique<UpstreamTcp>(this, s.token, s.to, fd);
    t->start(s.bytes);
    part = std::move(t);
  }
  upstreams_.emplace(s.token, std::move(part));
  glue_.upstream_sockets = upstreams_.size();
}

void DnsModule::release_token(uint32_t token) {
  auto it = upstreams_.find(token);
  if (it == upstreams_.end()) return;
  retire(std::move(it->second));
  upstreams_.erase(it);
  glue_.upstream_sockets = upstreams_.size();
}

// ------------------------------------------------------------ TCP clients --

void DnsModule::on_accept(int fd) {
  if (draining_ || !engine_ || clients_.size() >= limits_.tcp_connections) {
    ++glue_.tcp_refused;
    LOG_DEBUG("dns: tcp connection limit %u reached, closing a new connection", limits_.tcp_connections);
    loop_->close(fd);
    return;
  }
  ++glue_.tcp_accepted;
  const uint64_t id = next_conn_id_++;
  auto c = std::make_unique<TcpClient>(this, fd, id);
  TcpClient* raw = c.get();
  clients_.emplace(id, std::move(c));
  glue_.tcp_clients = clients_.size();
  raw->start();
}

void DnsModule::client_closed(uint64_t conn_id) {
  auto it = clients_.find(conn_id);
  if (it == clients_.end()) return;
  if (it->second.get() == current_client_) current_client_ = nullptr;
  retire(std::move(it->second));
  clients_.erase(it);
  glue_.tcp_clients = clients_.size();
}

// ----------------------------------------------------------- part freeing --

void DnsModule::retire(std::unique_ptr<Part> p) {
  if (!p) return;
  p->close();
  closing_.push_back(std::move(p));
  schedule_reap();
}

void DnsModule::schedule_reap() {
  if (!reap_timer_.armed()) loop_->timers().arm(reap_timer_, loop_->now());
}

void DnsModule::reap() {
  // Clients that got replies while their pipelined queries waited: handle those now
  // (outside dispatch, so they may call the engine).
  std::vector<uint64_t> resume;
  resume.swap(resume_);
  for (uint64_t id : resume) {
    auto it = clients_.find(id);
    if (it != clients_.end()) it->second->resume();
  }
  closing_.erase(std::remove_if(closing_.begin(), closing_.end(), [](const auto& p) { return !p->busy(); }),
                 closing_.end());
}

}  // namespace portico::modules
