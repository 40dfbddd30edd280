#include "proxy/cluster/dns_discovery.hpp"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "dnscache/message.hpp"
#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"

namespace portico::cluster {

namespace dnswire {

std::vector<uint8_t> build_query(const std::string& name, uint16_t type, uint16_t id) {
  std::vector<uint8_t> out;
  ldns_rdf* dname = ldns_dname_new_frm_str(name.c_str());
  if (!dname) return out;
  ldns_pkt* pkt = ldns_pkt_query_new(dname, static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN, LDNS_RD);
  if (!pkt) return out;
  ldns_pkt_set_id(pkt, id);
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK && wire) out.assign(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(pkt);
  return out;
}

Answer parse_answer(const uint8_t* data, size_t len, uint16_t type) {
  Answer a;
  ldns_pkt* pkt = nullptr;
  if (!dnscache::safe_for_ldns({data, len})) return a;
  if (ldns_wire2pkt(&pkt, data, len) != LDNS_STATUS_OK || !pkt) return a;
  a.id = ldns_pkt_id(pkt);
  a.rcode = static_cast<uint16_t>(ldns_pkt_get_rcode(pkt));
  a.truncated = ldns_pkt_tc(pkt);
  const ldns_rr_list* q = ldns_pkt_question(pkt);
  const bool type_ok = q && ldns_rr_list_rr_count(q) == 1 &&
                       ldns_rr_get_type(ldns_rr_list_rr(q, 0)) == static_cast<ldns_rr_type>(type);
  a.ok = ldns_pkt_qr(pkt) && type_ok && (a.rcode == LDNS_RCODE_NOERROR || a.rcode == LDNS_RCODE_NXDOMAIN);
  const ldns_rr_list* ans = ldns_pkt_answer(pkt);
  for (size_t i = 0; a.ok && ans && i < ldns_rr_list_rr_count(ans); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(ans, i);
    if (ldns_rr_get_type(rr) != static_cast<ldns_rr_type>(type)) continue;  // CNAMEs on the way
    bool used = false;
    if (type == LDNS_RR_TYPE_A && ldns_rr_rd_count(rr) == 1 && ldns_rdf_size(ldns_rr_rdf(rr, 0)) == 4) {
      conf::Address ad;
      auto* sin = reinterpret_cast<sockaddr_in*>(&ad.storage);
      sin->sin_family = AF_INET;
      std::memcpy(&sin->sin_addr, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4);
      ad.len = sizeof(sockaddr_in);
      a.addresses.push_back(ad);
      used = true;
    } else if (type == LDNS_RR_TYPE_AAAA && ldns_rr_rd_count(rr) == 1 &&
               ldns_rdf_size(ldns_rr_rdf(rr, 0)) == 16) {
      conf::Address ad;
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ad.storage);
      sin6->sin6_family = AF_INET6;
      std::memcpy(&sin6->sin6_addr, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 16);
      ad.len = sizeof(sockaddr_in6);
      a.addresses.push_back(ad);
      used = true;
    } else if (type == LDNS_RR_TYPE_SRV && ldns_rr_rd_count(rr) == 4) {
      Srv s;
      s.priority = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
      s.weight = ldns_rdf2native_int16(ldns_rr_rdf(rr, 1));
      s.port = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
      if (char* t = ldns_rdf2str(ldns_rr_rdf(rr, 3))) {
        s.target = t;
        std::free(t);
      }
      while (!s.target.empty() && s.target.back() == '.') s.target.pop_back();
      if (s.port != 0 && !s.target.empty()) {  // target "." means "no service"
        a.srvs.push_back(std::move(s));
        used = true;
      }
    }
    if (used) a.min_ttl = std::min(a.min_ttl, ldns_rr_ttl(rr));
  }
  ldns_pkt_free(pkt);
  return a;
}

void append_framed(std::vector<uint8_t>& out, const std::vector<uint8_t>& message) {
  out.push_back(static_cast<uint8_t>(message.size() >> 8));
  out.push_back(static_cast<uint8_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
}

void TcpFramer::feed(const uint8_t* data, size_t len) { buf_.insert(buf_.end(), data, data + len); }

bool TcpFramer::next(const uint8_t** data, size_t* len) {
  if (pos_ > 0 && pos_ == buf_.size()) {  // all consumed: start over
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 64 * 1024) {  // keep the buffer bounded by one message
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  if (buf_.size() - pos_ < 2) return false;
  const size_t n = (size_t{buf_[pos_]} << 8) | buf_[pos_ + 1];
  if (buf_.size() - pos_ - 2 < n) return false;
  *data = buf_.data() + pos_ + 2;
  *len = n;
  pos_ += 2 + n;
  return true;
}

}  // namespace dnswire

namespace {
enum Tag : uint8_t { kRecv, kSend, kTcpConnect, kTcpSend, kTcpRecv };
constexpr uint16_t kTypeA = 1, kTypeAAAA = 28, kTypeSrv = 33;

void set_port(conf::Address& a, uint16_t port) {
  if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  else if (a.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
}
}  // namespace

// One round's TCP connection to the nameserver: connect, send the framed
// queries as they come (pipelined), hand every framed answer to the owner.
// Freed through the owner once closed and nothing is armed.
class DnsDiscovery::TcpConn final : private io::OpHandler {
 public:
  TcpConn(DnsDiscovery* owner, int fd)
      : owner_(owner), fd_(fd), connect_(this, kTcpConnect), send_(this, kTcpSend), recv_(this, kTcpRecv) {}

  void start(const conf::Address& to) {
    to_ = to;
    owner_->loop_->connect(connect_, fd_, to_.sa(), to_.len);
  }
  void send(const std::vector<uint8_t>& query) {
    dnswire::append_framed(out_, query);
    flush();
  }
  // No result any more: cancel what is armed; freed once it all completed.
  void close() {
    closing_ = true;
    owner_->loop_->cancel(connect_);
    owner_->loop_->cancel(send_);
    owner_->loop_->cancel(recv_);
  }
  bool busy() const { return connect_.armed() || send_.armed() || recv_.armed(); }
  // Frees this once closed and idle; inside its own completion, at its end.
  void maybe_free() {
    if (!closing_ || busy() || dispatching_) return;
    owner_->loop_->close(fd_);
    owner_->tcp_freed(this);  // deletes this
  }

 private:
  void flush() {
    if (!connected_ || closing_ || send_.armed() || sent_ == out_.size()) return;
    owner_->loop_->send(send_, fd_, out_.data() + sent_, out_.size() - sent_);
  }
  void fail(const std::string& why) {
    if (closing_) return;
    owner_->tcp_failed(why);  // closes this
  }
  void on_complete(io::Op& op, int res) override {
    io::Loop* loop = owner_->loop_;
    io::Buffer* b = (op.tag() == kTcpRecv && res > 0) ? op.take_buffer() : nullptr;
    dispatching_ = true;
    if (!closing_) {
      switch (op.tag()) {
        case kTcpConnect:
          if (res < 0) {
            fail(std::string("tcp connect: ") + std::strerror(-res));
            break;
          }
          connected_ = true;
          io::set_nodelay(fd_);
          loop->recv(recv_, fd_);
          flush();
          break;
        case kTcpSend:
          if (res < 0) {
            fail(std::string("tcp send: ") + std::strerror(-res));
            break;
          }
          sent_ += static_cast<size_t>(res);
          if (sent_ == out_.size()) {
            out_.clear();
            sent_ = 0;
          }
          flush();
          break;
        case kTcpRecv:
          if (!b) {
            fail(res == 0 ? std::string("tcp: closed by the nameserver")
                          : std::string("tcp recv: ") + std::strerror(-res));
            break;
          }
          framer_.feed(b->readable(), b->remaining());
          const uint8_t* msg = nullptr;
          size_t len = 0;
          // the owner may close this connection while handling an answer
          while (!closing_ && framer_.next(&msg, &len)) owner_->on_answer(msg, len, true);
          if (!closing_ && !recv_.armed()) loop->recv(recv_, fd_);
          break;
      }
    }
    if (b) loop->pool().release(b);
    dispatching_ = false;
    maybe_free();
  }

  DnsDiscovery* owner_;
  int fd_;
  conf::Address to_;
  io::Op connect_;
  io::Op send_;
  io::Op recv_;
  bool connected_ = false;
  bool closing_ = false;
  bool dispatching_ = false;  // inside on_complete: the owner may close, not free, this
  std::vector<uint8_t> out_;  // framed queries; sent_ of them are out
  size_t sent_ = 0;
  dnswire::TcpFramer framer_;
};

DnsDiscovery::DnsDiscovery(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster,
                           const conf::Address& nameserver, uint64_t seed)
    : loop_(loop), cluster_(std::move(cluster)), nameserver_(nameserver), rng_(seed),
      recv_(this, kRecv), send_(this, kSend), timer_(this, 0) {
  const conf::Discovery& d = cluster_->config().discovery;
  if (d.nameserver) nameserver_ = *d.nameserver;
  timeout_ = d.timeout.count();
  min_refresh_ = d.min_refresh.count();
  max_refresh_ = std::max(d.max_refresh.count(), min_refresh_);
  empty_refresh_ = d.empty_refresh.count();
  retry_backoff_ = d.retry_backoff.count();
  max_retry_backoff_ = std::max(d.max_retry_backoff.count(), retry_backoff_);
  max_targets_ = d.max_targets;
  max_endpoints_ = d.max_endpoints;
  backoff_ = retry_backoff_;
  srv_mode_ = d.kind == conf::Discovery::Kind::kDnsSrv;
  name_ = d.name;
  if (!srv_mode_) {  // "name:port" (the loader checked the form)
    size_t colon = name_.rfind(':');
    if (colon != std::string::npos) {
      port_ = static_cast<uint16_t>(std::strtoul(name_.c_str() + colon + 1, nullptr, 10));
      name_.resize(colon);
    }
  }
}

DnsDiscovery::~DnsDiscovery() {
  loop_->timers().cancel(timer_);
  if (fd_ >= 0 && !recv_.armed() && !send_.armed()) loop_->close(fd_);
  // The owner waits for stopped(); a TCP connection still armed (forced exit)
  // is leaked to its completions rather than freed under them.
  if (tcp_ && tcp_->busy()) (void)tcp_.release();
  for (auto& c : tcp_dying_)
    if (c->busy()) (void)c.release();
}

void DnsDiscovery::start() {
  std::string err;
  fd_ = io::open_socket(nameserver_.family(), SOCK_DGRAM, err);
  if (fd_ >= 0 && ::connect(fd_, nameserver_.sa(), nameserver_.len) < 0) {
    err = std::string("connect: ") + std::strerror(errno);
    loop_->close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) {
    LOG_ERROR("cluster %s: discovery: no socket to %s: %s", cluster_->name().c_str(),
              nameserver_.str().c_str(), err.c_str());
    return;
  }
  loop_->recv(recv_, fd_, MSG_TRUNC);
  begin_round();
}

void DnsDiscovery::stop() {
  if (stopping_) return;
  stopping_ = true;
  loop_->timers().cancel(timer_);
  loop_->cancel(recv_);
  loop_->cancel(send_);
  close_tcp();
  if (fd_ >= 0 && !recv_.armed() && !send_.armed()) {
    loop_->close(fd_);
    fd_ = -1;
  }
}

void DnsDiscovery::close_tcp() {
  if (!tcp_) return;
  TcpConn* c = tcp_.get();
  tcp_dying_.push_back(std::move(tcp_));
  c->close();
  c->maybe_free();  // now if idle; from inside c's own completion, when it returns
}

void DnsDiscovery::tcp_freed(TcpConn* c) {
  std::erase_if(tcp_dying_, [c](const std::unique_ptr<TcpConn>& p) { return p.get() == c; });
}

void DnsDiscovery::tcp_failed(const std::string& why) {
  if (!in_round_) {
    close_tcp();
    return;
  }
  why_ = why;
  round_failed_ = true;
  finish(false, 0);  // closes the connection
}

void DnsDiscovery::begin_round() {
  queries_.clear();
  outbox_.clear();
  srvs_.clear();
  found_.clear();
  min_ttl_ = UINT32_MAX;
  round_failed_ = false;
  in_round_ = true;
  if (srv_mode_) {
    add_query(name_, kTypeSrv, -1);
  } else {
    add_query(name_, kTypeA, -1);
    add_query(name_, kTypeAAAA, -1);
  }
  loop_->timers().arm(timer_, loop_->now() + timeout_);
  flush();
}

void DnsDiscovery::add_query(const std::string& name, uint16_t type, int srv) {
  Query q;
  q.id = static_cast<uint16_t>(rng_.next_u64());
  q.type = type;
  q.name = name;
  q.srv = srv;
  std::vector<uint8_t> wire = dnswire::build_query(name, type, q.id);
  if (wire.empty()) {
    q.done = true;  // an unusable name: no answer to wait for
    why_ = "cannot query '" + name + "'";
    round_failed_ = true;
  } else {
    outbox_.push_back(std::move(wire));
  }
  queries_.push_back(std::move(q));
}

void DnsDiscovery::flush() {
  if (send_.armed() || outbox_.empty() || fd_ < 0 || stopping_) return;
  sending_ = std::move(outbox_.front());
  outbox_.erase(outbox_.begin());
  loop_->send(send_, fd_, sending_.data(), sending_.size());
}

void DnsDiscovery::on_complete(io::Op& op, int res) {
  if (op.tag() == kSend) {
    if (res < 0 && !stopping_)
      LOG_DEBUG("cluster %s: discovery: send to %s: %s", cluster_->name().c_str(), nameserver_.str().c_str(),
                std::strerror(-res));
    flush();
  } else if (res > 0) {
    io::Buffer* b = op.take_buffer();
    // MSG_TRUNC: datagram semantics (res is the real size; a larger one was cut: dropped).
    if (!stopping_ && static_cast<size_t>(res) <= loop_->pool().size())
      on_answer(b->readable(), b->remaining(), false);
    loop_->pool().release(b);
    if (!recv_.armed() && !stopping_) loop_->recv(recv_, fd_, MSG_TRUNC);
    return;
  } else if (!stopping_) {
    // ECONNREFUSED (nothing listens yet) ends a UDP recv: re-arm, the round's
    // timeout decides.
    loop_->recv(recv_, fd_, MSG_TRUNC);
  }
  if (stopping_ && fd_ >= 0 && !recv_.armed() && !send_.armed()) {
    loop_->close(fd_);
    fd_ = -1;
  }
}

void DnsDiscovery::on_answer(const uint8_t* data, size_t len, bool tcp) {
  if (!in_round_ || len < 12) return;
  const uint16_t id = static_cast<uint16_t>((data[0] << 8) | data[1]);
  // A query asked again over TCP takes its answer from TCP only.
  auto it = std::find_if(queries_.begin(), queries_.end(),
                         [&](const Query& q) { return q.id == id && !q.done && q.tcp == tcp; });
  if (it == queries_.end()) return;  // stale or forged
  dnswire::Answer a = dnswire::parse_answer(data, len, it->type);
  if (a.ok && a.id == id && a.truncated && !tcp) {
    LOG_DEBUG("cluster %s: discovery: %s type %u truncated over UDP; asking over TCP", cluster_->name().c_str(),
              it->name.c_str(), it->type);
    ask_over_tcp(*it);
    return;
  }
  if (!a.ok || a.id != id || a.truncated) {
    LOG_DEBUG("cluster %s: discovery: bad answer for %s type %u (rcode %u%s)", cluster_->name().c_str(),
              it->name.c_str(), it->type, a.rcode, a.truncated ? ", truncated over TCP" : "");
    why_ = a.truncated ? "answer truncated over TCP" : "bad answer (rcode " + std::to_string(a.rcode) + ")";
    round_failed_ = true;
    it->done = true;
    maybe_finish();
    return;
  }
  it->done = true;
  if (a.min_ttl != UINT32_MAX) min_ttl_ = std::min(min_ttl_, a.min_ttl);
  const int srv = it->srv;
  if (it->type == kTypeSrv) {
    srvs_ = std::move(a.srvs);
    if (srvs_.size() > max_targets_) srvs_.resize(max_targets_);
    for (size_t i = 0; i < srvs_.size(); ++i) {
      add_query(srvs_[i].target, kTypeA, static_cast<int>(i));
      add_query(srvs_[i].target, kTypeAAAA, static_cast<int>(i));
    }
    flush();
  } else {
    for (conf::Address& ad : a.addresses) {
      if (found_.size() >= max_endpoints_) break;
      upstream::Endpoint e;
      e.address = ad;
      if (srv >= 0) {
        const dnswire::Srv& s = srvs_[static_cast<size_t>(srv)];
        set_port(e.address, s.port);
        e.weight = std::max<uint32_t>(s.weight, 1);
        e.priority = s.priority;
      } else {
        set_port(e.address, port_);
      }
      found_.push_back(e);
    }
  }
  maybe_finish();
}

// The same query (name, type, id) again, over this round's TCP connection.
void DnsDiscovery::ask_over_tcp(Query& q) {
  q.tcp = true;
  std::vector<uint8_t> wire = dnswire::build_query(q.name, q.type, q.id);
  if (!tcp_) {
    std::string err;
    int fd = io::open_socket(nameserver_.family(), SOCK_STREAM, err);
    if (fd < 0) {
      tcp_failed("tcp socket: " + err);
      return;
    }
    tcp_ = std::make_unique<TcpConn>(this, fd);
    tcp_->start(nameserver_);
  }
  tcp_->send(wire);
}

void DnsDiscovery::maybe_finish() {
  for (const Query& q : queries_)
    if (!q.done) return;
  if (round_failed_) {
    finish(false, 0);
    return;
  }
  TimeNs refresh = min_ttl_ == UINT32_MAX ? empty_refresh_ : static_cast<TimeNs>(min_ttl_) * kNsPerSec;
  finish(true, std::clamp(refresh, min_refresh_, max_refresh_));
}

void DnsDiscovery::finish(bool ok, TimeNs refresh) {
  in_round_ = false;
  close_tcp();
  if (ok) {
    backoff_ = retry_backoff_;
    std::string err;
    const size_t before = cluster_->snapshot()->set->size();
    const uint64_t v = cluster_->version();
    if (!cluster_->set_endpoints(found_, &err))
      LOG_WARN("cluster %s: discovery: %s", cluster_->name().c_str(), err.c_str());
    else if (cluster_->version() != v)
      LOG_INFO("cluster=%s discovery=%s endpoints=%zu (was %zu) next=%lldms", cluster_->name().c_str(),
               srv_mode_ ? "dns_srv" : "dns", cluster_->snapshot()->set->size(), before,
               static_cast<long long>(refresh / kNsPerMs));
  } else {
    refresh = backoff_;
    backoff_ = std::min(backoff_ * 2, max_retry_backoff_);
    LOG_WARN("cluster %s: discovery of %s via %s failed (%s); keeping %zu endpoints, retry in %lldms",
             cluster_->name().c_str(), name_.c_str(), nameserver_.str().c_str(), why_.c_str(),
             cluster_->snapshot()->set->size(),
             static_cast<long long>(refresh / kNsPerMs));
  }
  loop_->timers().arm(timer_, loop_->now() + refresh);
}

void DnsDiscovery::on_timer(io::Timer&) {
  if (stopping_) return;
  if (in_round_) {  // some answer never came
    size_t missing = 0, over_tcp = 0;
    for (const Query& q : queries_) {
      missing += !q.done;
      over_tcp += !q.done && q.tcp;
    }
    why_ = "timeout: " + std::to_string(missing) + " of " + std::to_string(queries_.size()) + " unanswered" +
           (over_tcp ? " (" + std::to_string(over_tcp) + " over TCP)" : "");
    round_failed_ = true;
    finish(false, 0);
    return;
  }
  begin_round();
}

}  // namespace portico::cluster
