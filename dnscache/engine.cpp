#include "dnscache/engine.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "dnscache/cidr.hpp"
#include "dnscache/upstream_select.hpp"

namespace portico::dnscache {
namespace {

// RFC 8767 section 4: after a failed refresh, answer stale directly for this long.
constexpr Time kStaleRefreshInterval = std::chrono::seconds(30);
constexpr uint32_t kAnyHinfoTtl = 3600;

socklen_t addr_len(const sockaddr_storage& a) {
  return a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto* x = reinterpret_cast<const sockaddr_in6*>(&a);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(&b);
    return x->sin6_port == y->sin6_port &&
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

std::string check_options(const Options& o) {
  if (o.upstreams.size() > kMaxUpstreams) return "too many upstreams (max 64)";
  for (const auto& u : o.upstreams) {
    if (u.ss_family != AF_INET && u.ss_family != AF_INET6) return "upstream address is not IPv4/IPv6";
  }
  if (o.max_attempts == 0) return "max_attempts must be at least 1";
  if (o.max_entries == 0) return "cache max_entries must be at least 1";
  if (o.max_outstanding == 0 || o.max_waiters == 0) return "max_outstanding and max_waiters must be at least 1";
  if (o.upstream_timeout <= std::chrono::milliseconds::zero() ||
      o.upstream_tcp_timeout <= std::chrono::milliseconds::zero()) {
    return "upstream timeouts must be positive";
  }
  if (o.min_ttl.count() < 0 || o.max_ttl.count() < 0 || o.negative_ttl.count() < 0 ||
      o.serve_stale.count() < 0) {
    return "TTL settings must not be negative";
  }
  if (o.max_query_size < LDNS_HEADER_SIZE) return "max_query_size too small";
  return {};
}

}  // namespace

std::unique_ptr<Engine> Engine::create(Options options, Random& rng, std::string& error) {
  error = check_options(options);
  if (!error.empty()) return nullptr;
  auto local = LocalData::load(options.zones, options.records, error);
  if (!local) return nullptr;
  return std::unique_ptr<Engine>(new Engine(std::move(options), rng, std::move(local)));
}

Engine::Engine(Options options, Random& rng, std::unique_ptr<LocalData> local)
    : options_(std::move(options)),
      rng_(rng),
      local_(std::move(local)),
      cache_(options_.max_entries, options_.max_cache_bytes),
      opt_(make_opt_records(std::max<uint16_t>(512, options_.max_udp_payload))) {
  stats_.upstreams.assign(options_.upstreams.size(), UpstreamStats{});
  for (auto& u : stats_.upstreams) u.srtt_us = kInitialSrttUs;
}

bool Engine::reload(Options options, std::string& error) {
  error = check_options(options);
  if (!error.empty()) return false;
  auto local = LocalData::load(options.zones, options.records, error);
  if (!local) return false;
  bool same_upstreams = options.upstreams.size() == options_.upstreams.size();
  for (size_t i = 0; same_upstreams && i < options.upstreams.size(); ++i) {
    same_upstreams = same_address(options.upstreams[i], options_.upstreams[i]);
  }
  options_ = std::move(options);
  local_ = std::move(local);
  cache_.set_limits(options_.max_entries, options_.max_cache_bytes);
  opt_ = make_opt_records(std::max<uint16_t>(512, options_.max_udp_payload));
  if (!same_upstreams) {
    stats_.upstreams.assign(options_.upstreams.size(), UpstreamStats{});
    for (auto& u : stats_.upstreams) u.srtt_us = kInitialSrttUs;
  }
  return true;
}

UpstreamStats& Engine::upstream_stats(uint32_t index) {
  if (index < stats_.upstreams.size()) return stats_.upstreams[index];
  scratch_upstream_ = UpstreamStats{};  // attempt sent before a reload shrank the list
  return scratch_upstream_;
}

uint32_t Engine::new_token() {
  // Tokens are tags for the glue, not security: a counter that skips 0 and live ones.
  for (;;) {
    const uint32_t t = next_token_++;
    if (t != 0 && pending_.find(t) == pending_.end()) return t;
  }
}

void Engine::finish(Actions& out) {
  stats_.cache_entries = cache_.size();
  stats_.evictions = cache_.evictions();
  out.next_wakeup = deadlines_.empty() ? kNever : deadlines_.begin()->first;
}

void Engine::send_error(const ClientQuery& q, const Peer& client, uint16_t rcode, Actions& out) {
  Send& s = out.add();
  render_error(q, rcode, std::max<uint16_t>(512, options_.max_udp_payload), s.bytes);
  if (s.bytes.empty()) {
    out.drop_last();
    return;
  }
  s.to = client;
  s.kind = SendKind::kToClient;
  if (rcode == LDNS_RCODE_SERVFAIL) ++stats_.servfail;
  if (rcode == LDNS_RCODE_REFUSED) ++stats_.refused;
  if (rcode == LDNS_RCODE_FORMERR) ++stats_.formerr;
}

void Engine::send_response(const Response& r, const ClientQuery& q, const Peer& client,
                           const RenderTtl& ttl, Actions& out) {
  Send& s = out.add();
  if (render_response(r, q, ttl, opt_, s.bytes)) ++stats_.truncated;
  s.to = client;
  s.kind = SendKind::kToClient;
}

bool Engine::send_stale(const ClientQuery& q, const Peer& client, const QuestionKey& key, Time now,
                        Actions& out) {
  if (options_.serve_stale.count() == 0) return false;
  CacheEntry* e = cache_.find(key, now, options_.serve_stale);
  if (!e) return false;
  RenderTtl ttl;
  if (e->expires <= now) {
    ttl.stale = true;
    ttl.stale_ttl = options_.stale_answer_ttl;
    ++stats_.stale_answers;
  } else {
    ttl.age_s = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now - e->stored).count());
  }
  send_response(e->response, q, client, ttl, out);
  return true;
}

void Engine::on_client_query(std::span<const uint8_t> bytes, const Peer& client, Time now,
                             Actions& out) {
  out.reset();
  ++stats_.queries;
  ClientQuery& q = query_;
  const QueryCheck check = parse_client_query(bytes, client.transport, options_.max_udp_payload,
                                              options_.max_query_size, q);
  if (check == QueryCheck::kDrop) {
    ++stats_.dropped;
  } else if (!any_contains(options_.allow, client.addr)) {
    send_error(q, client, LDNS_RCODE_REFUSED, out);
  } else if (check == QueryCheck::kFormErr) {
    send_error(q, client, LDNS_RCODE_FORMERR, out);
  } else if (check == QueryCheck::kNotImp) {
    send_error(q, client, LDNS_RCODE_NOTIMPL, out);
  } else if (check == QueryCheck::kBadVers) {
    send_error(q, client, 16 /* BADVERS, RFC 6891 */, out);
  } else {
    answer_query(q, client, now, out);
  }
  finish(out);
}

// The rcode a question gets before any lookup, or NOERROR to go on. TYPE and
// CLASS 0 are reserved, OPT is a pseudo-record and 128-250 are meta-types
// (TKEY, TSIG need a key): no server answers them, so FORMERR, as unbound
// does; forwarding them would also misfire (ldns rewrites 0 to A / IN).
// MAILB and MAILA are obsolete (NOTIMP); zone transfers are not served
// (REFUSED); only the Internet class is (CH, HS, NONE: REFUSED).
namespace {
uint16_t question_rcode(const ClientQuery& q) {
  const uint16_t t = q.qtype;
  if (t == 0 || q.qclass == 0 || t == LDNS_RR_TYPE_OPT || (t >= 128 && t <= LDNS_RR_TYPE_TSIG))
    return LDNS_RCODE_FORMERR;
  if (t == LDNS_RR_TYPE_MAILB || t == LDNS_RR_TYPE_MAILA) return LDNS_RCODE_NOTIMPL;
  if (t == LDNS_RR_TYPE_AXFR || t == LDNS_RR_TYPE_IXFR) return LDNS_RCODE_REFUSED;
  if (q.qclass != LDNS_RR_CLASS_IN && q.qclass != LDNS_RR_CLASS_ANY) return LDNS_RCODE_REFUSED;
  return LDNS_RCODE_NOERROR;
}
}  // namespace

void Engine::answer_query(const ClientQuery& q, const Peer& client, Time now, Actions& out) {
  if (const uint16_t rcode = question_rcode(q); rcode != LDNS_RCODE_NOERROR) {
    send_error(q, client, rcode, out);
    return;
  }
  QuestionKey& key = key_;
  make_key(q, key);
  if (local_->answer(key, options_.max_cname_chain, response_)) {
    ++stats_.local_answers;
    send_response(response_, q, client, RenderTtl{}, out);
    return;
  }
  if (q.qtype == LDNS_RR_TYPE_ANY) {
    answer_any(q, client, out);
    return;
  }
  const Time stale_window = options_.serve_stale;
  if (CacheEntry* e = cache_.find(key, now, stale_window)) {
    if (now < e->expires) {
      ++stats_.cache_hits;
      ++e->hits;
      RenderTtl ttl;
      ttl.age_s = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now - e->stored).count());
      send_response(e->response, q, client, ttl, out);
      // Prefetch: popular entry in the last 10% of its TTL, refreshed in background.
      const Time remaining = e->expires - now;
      if (options_.prefetch && e->hits >= options_.prefetch_min_hits &&
          remaining * 10 <= std::chrono::seconds(e->ttl) && inflight_.find(key) == inflight_.end() &&
          !options_.upstreams.empty() && pending_.size() < options_.max_outstanding) {
        ++stats_.prefetches;
        forward(key, nullptr, now, out);
      }
      return;
    }
    // Expired but within the stale window (RFC 8767).
    if (e->refresh_failed_at > now - kStaleRefreshInterval) {
      send_stale(q, client, key, now, out);
      return;
    }
  }
  ++stats_.cache_misses;
  Waiter w{q, client};
  forward(key, &w, now, out);
}

void Engine::answer_any(const ClientQuery& q, const Peer& client, Actions& out) {
  // RFC 8482 section 4.2: a synthesized HINFO instead of forwarding ANY.
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_ra(p.get(), true);
  ldns_rr* question = ldns_rr_new();
  ldns_rr_set_owner(question, name_rdf(q.qname_wire()).release());
  ldns_rr_set_type(question, LDNS_RR_TYPE_ANY);
  ldns_rr_set_class(question, static_cast<ldns_rr_class>(q.qclass));
  ldns_rr_set_question(question, true);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, question);
  ldns_rr* hinfo = nullptr;
  if (ldns_rr_new_frm_str(&hinfo, ". 3600 IN HINFO \"RFC8482\" \"\"", kAnyHinfoTtl, nullptr, nullptr) ==
      LDNS_STATUS_OK) {
    ldns_rdf_deep_free(ldns_rr_owner(hinfo));
    ldns_rr_set_owner(hinfo, name_rdf(q.qname_wire()).release());
    ldns_rr_set_class(hinfo, static_cast<ldns_rr_class>(q.qclass));
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, hinfo);
  }
  if (!response_from_pkt(p.get(), response_)) {
    send_error(q, client, LDNS_RCODE_SERVFAIL, out);
    return;
  }
  send_response(response_, q, client, RenderTtl{}, out);
}

void Engine::forward(const QuestionKey& key, const Waiter* waiter, Time now, Actions& out) {
  auto it = inflight_.find(key);
  if (it != inflight_.end()) {
    if (!waiter) return;
    Pending& p = pending_.at(it->second);
    if (p.waiters.size() >= options_.max_waiters) {
      if (!send_stale(waiter->query, waiter->peer, key, now, out)) {
        send_error(waiter->query, waiter->peer, LDNS_RCODE_SERVFAIL, out);
      }
      return;
    }
    ++stats_.coalesced;
    p.waiters.push_back(*waiter);
    return;
  }
  if (pending_.size() >= options_.max_outstanding || options_.upstreams.empty()) {
    if (waiter && !send_stale(waiter->query, waiter->peer, key, now, out)) {
      send_error(waiter->query, waiter->peer, LDNS_RCODE_SERVFAIL, out);
    }
    return;
  }
  Pending p;
  p.key = key;
  if (waiter) p.waiters.push_back(*waiter);
  if (!send_attempt(std::move(p), Transport::kUdp, std::nullopt, now, out)) {
    // Unreachable with a non-empty upstream list; answer rather than lose waiters.
    if (waiter) send_error(waiter->query, waiter->peer, LDNS_RCODE_SERVFAIL, out);
  }
}

bool Engine::send_attempt(Pending&& p, Transport transport, std::optional<uint32_t> upstream, Time now,
                          Actions& out) {
  if (!upstream) {
    if (p.attempts >= options_.max_attempts) return false;
    upstream = pick_upstream(stats_.upstreams, p.tried, options_.explore_percent, rng_);
    if (!upstream) return false;
  }
  const uint32_t idx = *upstream;
  if (idx >= options_.upstreams.size()) return false;  // list shrank on reload
  p.tried |= uint64_t{1} << idx;
  ++p.attempts;
  p.id = static_cast<uint16_t>(rng_.uniform(65536));
  p.upstream = idx;
  p.upstream_peer = Peer{};
  p.upstream_peer.addr = options_.upstreams[idx];
  p.upstream_peer.len = addr_len(options_.upstreams[idx]);
  p.upstream_peer.transport = transport;
  p.transport = transport;
  p.sent_at = now;
  p.deadline = now + attempt_timeout(transport);
  Send& s = out.add();
  if (!build_upstream_query(p.key, p.id, options_.upstream_edns_size, s.bytes)) {
    out.drop_last();  // cannot happen for a name ldns parsed
    return false;
  }
  const uint32_t token = new_token();
  s.to = p.upstream_peer;
  s.kind = transport == Transport::kTcp ? SendKind::kToUpstreamTcp : SendKind::kToUpstreamUdp;
  s.upstream_index = idx;
  s.token = token;
  ++stats_.upstreams[idx].queries;
  inflight_[p.key] = token;
  deadlines_.emplace(p.deadline, token);
  pending_.emplace(token, std::move(p));
  return true;
}

Engine::Pending Engine::take(uint32_t token, Actions& out) {
  auto node = pending_.extract(token);
  Pending p = std::move(node.mapped());
  deadlines_.erase({p.deadline, token});
  auto it = inflight_.find(p.key);
  if (it != inflight_.end() && it->second == token) inflight_.erase(it);
  out.release(token);
  return p;
}

void Engine::retry_or_fail(Pending&& p, Time now, Actions& out) {
  const QuestionKey key = p.key;
  std::vector<Waiter> waiters = p.waiters;  // kept in case no attempt is possible
  if (send_attempt(std::move(p), Transport::kUdp, std::nullopt, now, out)) return;
  bool stale_known = false;
  if (CacheEntry* e = cache_.find(key, now, options_.serve_stale)) {
    if (e->expires <= now) e->refresh_failed_at = now;
    stale_known = true;
  }
  for (const Waiter& w : waiters) {
    if (!(stale_known && send_stale(w.query, w.peer, key, now, out))) {
      send_error(w.query, w.peer, LDNS_RCODE_SERVFAIL, out);
    }
  }
}

void Engine::on_upstream_reply(std::span<const uint8_t> bytes, const Peer& from, uint32_t token,
                               Time now, Actions& out) {
  out.reset();
  auto it = pending_.find(token);
  if (it == pending_.end() || !same_address(from.addr, it->second.upstream_peer.addr)) {
    ++stats_.bogus_replies;
    finish(out);
    return;
  }
  PktPtr reply;
  if (parse_upstream_reply(bytes, it->second.id, it->second.key, reply) != ReplyCheck::kOk) {
    ++stats_.bogus_replies;  // spoofed or garbled: keep waiting for the real one
    finish(out);
    return;
  }
  Pending p = take(token, out);
  UpstreamStats& up = upstream_stats(p.upstream);
  ++up.replies;
  record_rtt(up, now - p.sent_at);
  const uint8_t rcode = ldns_pkt_get_rcode(reply.get());
  if (ldns_pkt_tc(reply.get()) && p.transport == Transport::kUdp) {
    ++stats_.tcp_retries;
    const uint32_t idx = p.upstream;
    const QuestionKey key = p.key;
    std::vector<Waiter> waiters = p.waiters;
    if (!send_attempt(std::move(p), Transport::kTcp, idx, now, out)) {
      for (const Waiter& w : waiters) send_error(w.query, w.peer, LDNS_RCODE_SERVFAIL, out);
    }
  } else if ((rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) || ldns_pkt_tc(reply.get())) {
    // A failure rcode, or a reply still truncated over TCP (which has no
    // size limit to excuse it): not an answer, whatever it holds.
    ++up.failures;
    record_penalty(up, now - p.sent_at);
    retry_or_fail(std::move(p), now, out);
  } else {
    accept_reply(std::move(p), reply.get(), now, out);
  }
  finish(out);
}

void Engine::on_upstream_error(uint32_t token, Time now, Actions& out) {
  out.reset();
  if (pending_.find(token) != pending_.end()) {
    Pending p = take(token, out);
    UpstreamStats& up = upstream_stats(p.upstream);
    ++up.failures;
    // As costly as a timeout for the choice of upstream: it is likely down.
    record_penalty(up, attempt_timeout(p.transport));
    retry_or_fail(std::move(p), now, out);
  }
  finish(out);
}

void Engine::accept_reply(Pending&& p, const ldns_pkt* reply, Time now, Actions& out) {
  uint32_t ttl = 0;
  bool cacheable = false;
  Response& r = response_;
  if (!prepare_upstream_answer(reply, options_, r, ttl, cacheable)) {
    retry_or_fail(std::move(p), now, out);
    return;
  }
  for (const Waiter& w : p.waiters) send_response(r, w.query, w.peer, RenderTtl{}, out);
  if (cacheable) {
    cache_.insert(p.key, std::move(r), ttl, now);
    response_ = Response{};
  }
}

void Engine::on_timer(Time now, Actions& out) {
  out.reset();
  // Bounded: each pass removes one deadline; re-sent attempts get later deadlines.
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint32_t token = deadlines_.begin()->second;
    Pending p = take(token, out);
    ++stats_.upstream_timeouts;
    UpstreamStats& up = upstream_stats(p.upstream);
    ++up.timeouts;
    record_penalty(up, attempt_timeout(p.transport));
    // RFC 8767: clients waiting on an expired entry get it now; the refresh goes on.
    if (!p.waiters.empty() && options_.serve_stale.count() > 0) {
      CacheEntry* e = cache_.find(p.key, now, options_.serve_stale);
      if (e && e->expires <= now) {
        for (const Waiter& w : p.waiters) send_stale(w.query, w.peer, p.key, now, out);
        p.waiters.clear();
      }
    }
    retry_or_fail(std::move(p), now, out);
  }
  finish(out);
}

}  // namespace portico::dnscache
