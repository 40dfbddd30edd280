#include "proxy/cluster/dns_discovery.hpp"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

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
  if (ldns_wire2pkt(&pkt, data, len) != LDNS_STATUS_OK || !pkt) return a;
  a.id = ldns_pkt_id(pkt);
  a.rcode = static_cast<uint16_t>(ldns_pkt_get_rcode(pkt));
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

}  // namespace dnswire

namespace {
enum Tag : uint8_t { kRecv, kSend };
constexpr uint16_t kTypeA = 1, kTypeAAAA = 28, kTypeSrv = 33;

void set_port(conf::Address& a, uint16_t port) {
  if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  else if (a.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
}
}  // namespace

DnsDiscovery::DnsDiscovery(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster,
                           const conf::Address& nameserver, uint64_t seed)
    : loop_(loop), cluster_(std::move(cluster)), nameserver_(nameserver), rng_(seed),
      recv_(this, kRecv), send_(this, kSend), timer_(this, 0) {
  const conf::Discovery& d = cluster_->config().discovery;
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
  if (fd_ >= 0 && !recv_.armed() && !send_.armed()) {
    loop_->close(fd_);
    fd_ = -1;
  }
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
  loop_->timers().arm(timer_, loop_->now() + kQueryTimeout);
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
    if (!stopping_ && static_cast<size_t>(res) <= loop_->pool().size()) on_datagram(b->readable(), b->remaining());
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

void DnsDiscovery::on_datagram(const uint8_t* data, size_t len) {
  if (!in_round_ || len < 12) return;
  const uint16_t id = static_cast<uint16_t>((data[0] << 8) | data[1]);
  auto it = std::find_if(queries_.begin(), queries_.end(), [&](const Query& q) { return q.id == id && !q.done; });
  if (it == queries_.end()) return;  // stale or forged
  dnswire::Answer a = dnswire::parse_answer(data, len, it->type);
  if (!a.ok || a.id != id) {
    LOG_DEBUG("cluster %s: discovery: bad answer for %s type %u (rcode %u)", cluster_->name().c_str(),
              it->name.c_str(), it->type, a.rcode);
    why_ = "bad answer (rcode " + std::to_string(a.rcode) + ")";
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
    if (srvs_.size() > kMaxTargets) srvs_.resize(kMaxTargets);
    for (size_t i = 0; i < srvs_.size(); ++i) {
      add_query(srvs_[i].target, kTypeA, static_cast<int>(i));
      add_query(srvs_[i].target, kTypeAAAA, static_cast<int>(i));
    }
    flush();
  } else {
    for (conf::Address& ad : a.addresses) {
      if (found_.size() >= kMaxEndpoints) break;
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

void DnsDiscovery::maybe_finish() {
  for (const Query& q : queries_)
    if (!q.done) return;
  if (round_failed_) {
    finish(false, 0);
    return;
  }
  TimeNs refresh = min_ttl_ == UINT32_MAX ? kEmptyRefresh : static_cast<TimeNs>(min_ttl_) * kNsPerSec;
  finish(true, std::clamp(refresh, kMinRefresh, kMaxRefresh));
}

void DnsDiscovery::finish(bool ok, TimeNs refresh) {
  in_round_ = false;
  if (ok) {
    backoff_ = kNsPerSec;
    std::string err;
    const size_t before = cluster_->snapshot()->set->size();
    const uint64_t v = cluster_->version();
    if (!cluster_->set_endpoints(found_, &err))
      LOG_WARN("cluster %s: discovery: %s", cluster_->name().c_str(), err.c_str());
    else if (cluster_->version() != v)
      LOG_INFO("cluster=%s discovery=%s endpoints=%zu (was %zu) next=%llds", cluster_->name().c_str(),
               srv_mode_ ? "dns_srv" : "dns", cluster_->snapshot()->set->size(), before,
               static_cast<long long>(refresh / kNsPerSec));
  } else {
    refresh = backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    LOG_WARN("cluster %s: discovery of %s via %s failed (%s); keeping %zu endpoints, retry in %llds",
             cluster_->name().c_str(), name_.c_str(), nameserver_.str().c_str(), why_.c_str(),
             cluster_->snapshot()->set->size(),
             static_cast<long long>(refresh / kNsPerSec));
  }
  loop_->timers().arm(timer_, loop_->now() + refresh);
}

void DnsDiscovery::on_timer(io::Timer&) {
  if (stopping_) return;
  if (in_round_) {  // some answer never came
    size_t missing = 0;
    for (const Query& q : queries_) missing += !q.done;
    why_ = "timeout: " + std::to_string(missing) + " of " + std::to_string(queries_.size()) + " unanswered";
    round_failed_ = true;
    finish(false, 0);
    return;
  }
  begin_round();
}

}  // namespace portico::cluster
