#include "mdns/browser.hpp"

#include <algorithm>
#include <set>

#include "mdns/signing.hpp"

namespace portico::mdns {

namespace {

constexpr Duration kGoodbyeDelay{1000};
constexpr Duration kFlushGrace{1000};
constexpr int kRefreshStages = 4;  // 80, 85, 90, 95 % of the TTL
constexpr int kResolveAttempts = 3;

Duration ttl_fraction(uint32_t ttl_s, uint64_t per_mille) {
  return Duration{uint64_t(ttl_s) * per_mille};  // ttl_s * 1000 ms * per_mille / 1000
}

std::string instance_key(uint32_t ifindex, const Name& full) {
  return std::to_string(ifindex) + "/" + name_lower(full);
}

}  // namespace

Browser::Browser(const Options& opts, Random& rnd, Stats& stats) : opts_(opts), rnd_(rnd), stats_(stats) {
  for (const auto& t : opts.browse) {
    Name n = name_from_dotted(t);
    if (n.empty()) continue;
    n = name_lower(n.substr(0, n.size() - 1) + name_from_dotted("local"));
    bool dup = false;
    for (const auto& b : browses_) dup |= b.name == n;
    if (!dup) browses_.push_back(Browse{t, n, kNever, Duration{1000}, {}});
  }
}

void Browser::start(Time now) {
  started_ = true;
  for (auto& b : browses_) {
    b.interval = Duration{1000};
    b.next_query = now + Duration{rnd_.uniform(20, 120)};  // RFC 6762 5.2
  }
}

void Browser::stop() {
  started_ = false;
  for (auto& b : browses_) b.next_query = kNever;
  resolve_at_ = kNever;
}

const std::vector<Instance>& Browser::instances(std::string_view type) const {
  static const std::vector<Instance> kEmpty;
  Name n = name_from_dotted(type);
  if (n.empty()) return kEmpty;
  n = name_lower(n.substr(0, n.size() - 1) + name_from_dotted("local"));
  for (const auto& b : browses_)
    if (b.name == n) return b.instances;
  return kEmpty;
}

bool Browser::relevant(const Record& r, uint32_t ifindex) const {
  if (r.rrclass != kClassIn) return false;
  switch (r.type) {
    case rrtype::kPtr: {
      Name key = name_lower(r.name);
      for (const auto& b : browses_)
        if (b.name == key) {
          auto inst = parse_ptr(r.rdata);
          return inst && name_equal(name_parent(*inst), r.name);
        }
      return false;
    }
    case rrtype::kSrv:
    case rrtype::kTxt: {
      Name parent = name_lower(name_parent(r.name));
      for (const auto& b : browses_)
        if (b.name == parent) return true;
      return false;
    }
    case rrtype::kA:
    case rrtype::kAaaa: {
      // Addresses of a host that a cached SRV record on this interface points to.
      for (const auto& [key, e] : cache_)
        if (e.rr.type == rrtype::kSrv && e.ifindex == ifindex) {
          auto srv = parse_srv(e.rr.rdata);
          if (srv && name_equal(srv->target, r.name)) return true;
        }
      return false;
    }
    default:
      return false;
  }
}

void Browser::schedule_refresh(Entry& e) {
  if (e.stage >= kRefreshStages || e.rr.ttl == 0) {
    e.refresh_at = kNever;
    return;
  }
  uint64_t per_mille = 800 + 50 * uint64_t(e.stage) + rnd_.uniform(0, 20);  // + up to 2 %
  e.refresh_at = e.received + ttl_fraction(e.rr.ttl, per_mille);
}

void Browser::insert(const Record& r, uint32_t ifindex, Time now) {
  Name key = name_lower(r.name);
  auto range = cache_.equal_range(key);
  if (r.cache_flush && r.ttl > 0) {
    // RFC 6762 10.2: other rdata of this rrset received over a second ago expires in 1 s.
    for (auto it = range.first; it != range.second; ++it) {
      Entry& e = it->second;
      if (e.ifindex == ifindex && e.rr.type == r.type && e.received + kFlushGrace <= now &&
          !rdata_equal(r.type, e.rr.rdata, r.rdata) && e.expires > now + kGoodbyeDelay) {
        e.expires = now + kGoodbyeDelay;
        e.refresh_at = kNever;
      }
    }
  }
  for (auto it = range.first; it != range.second; ++it) {
    Entry& e = it->second;
    if (e.ifindex != ifindex || !same_record(e.rr, r)) continue;
    if (r.ttl == 0) {  // goodbye: remove one second later (RFC 6762 10.1)
      e.expires = std::min(e.expires, now + kGoodbyeDelay);
      e.refresh_at = kNever;
      e.rr.ttl = 0;
    } else {
      bool changed = e.rr.rdata != r.rdata || e.rr.ttl == 0;
      e.rr = r;
      e.received = now;
      e.expires = now + Duration{uint64_t(r.ttl) * 1000};
      e.stage = 0;
      schedule_refresh(e);
      dirty_ |= changed;
    }
    return;
  }
  if (r.ttl == 0) return;
  if (cache_.size() >= opts_.limits.max_cache_entries) {
    auto victim = std::min_element(cache_.begin(), cache_.end(),
                                   [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
    cache_.erase(victim);
    ++stats_.cache_evictions;
  }
  Entry e;
  e.rr = r;
  e.ifindex = ifindex;
  e.received = now;
  e.expires = now + Duration{uint64_t(r.ttl) * 1000};
  schedule_refresh(e);
  cache_.emplace(std::move(key), std::move(e));
  dirty_ = true;
}

void Browser::on_response(const Message& m, const Source& src, Time now) {
  if (browses_.empty()) return;
  // Two passes so that address records follow the SRV records naming their host.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto* sec : {&m.answers, &m.additional})
      for (const auto& r : *sec) {
        bool addr = r.type == rrtype::kA || r.type == rrtype::kAaaa;
        if (addr != (pass == 1)) continue;
        if (relevant(r, src.ifindex)) insert(r, src.ifindex, now);
      }
  }
}

bool Browser::check_signature(const std::string& key, const Instance& inst, const Name& full,
                              const Name& target, const std::string& sig) {
  SignedFields f{full, target, inst.port, inst.priority, inst.weight, inst.txt, inst.addresses};
  auto bytes = canonical_bytes(f);
  auto it = verified_.find(key);
  if (it != verified_.end() && it->second.signed_bytes == bytes && it->second.sig == sig) return it->second.ok;
  bool ok = false;
  for (const auto& k : opts_.signing.trusted_keys) ok = ok || verify(f, sig, k);
  if (!ok) ++stats_.signature_rejects;
  verified_[key] = Verified{std::move(bytes), sig, ok};
  return ok;
}

void Browser::recompute(Time now, std::vector<BrowseEvent>& events) {
  (void)now;
  unresolved_.clear();
  std::set<std::string> live_keys;
  for (auto& b : browses_) {
    std::vector<Instance> list;
    std::set<std::string> seen;
    auto ptrs = cache_.equal_range(b.name);
    for (auto p = ptrs.first; p != ptrs.second; ++p) {
      const Entry& pe = p->second;
      if (pe.rr.type != rrtype::kPtr) continue;
      auto full = parse_ptr(pe.rr.rdata);
      if (!full) continue;
      std::string key = instance_key(pe.ifindex, *full);
      if (!seen.insert(key).second) continue;
      const Entry *srv_e = nullptr, *txt_e = nullptr;
      auto recs = cache_.equal_range(name_lower(*full));
      for (auto it = recs.first; it != recs.second; ++it) {
        const Entry& e = it->second;
        if (e.ifindex != pe.ifindex) continue;
        if (e.rr.type == rrtype::kSrv && (!srv_e || e.received > srv_e->received)) srv_e = &e;
        if (e.rr.type == rrtype::kTxt && (!txt_e || e.received > txt_e->received)) txt_e = &e;
      }
      if (!srv_e) unresolved_.push_back({pe.ifindex, Question{*full, rrtype::kSrv, kClassIn, false}});
      if (!txt_e) unresolved_.push_back({pe.ifindex, Question{*full, rrtype::kTxt, kClassIn, false}});
      if (!srv_e || !txt_e) continue;
      auto srv = parse_srv(srv_e->rr.rdata);
      auto strings = parse_txt(txt_e->rr.rdata);
      if (!srv || !strings) continue;
      Instance inst;
      inst.ifindex = pe.ifindex;
      inst.name = name_first_label(*full);
      inst.type = b.type;
      inst.host = name_to_text(srv->target);
      inst.port = srv->port;
      inst.priority = srv->priority;
      inst.weight = srv->weight;
      auto addrs = cache_.equal_range(name_lower(srv->target));
      for (auto it = addrs.first; it != addrs.second; ++it)
        if (it->second.ifindex == pe.ifindex)
          if (auto a = parse_address(it->second.rr.type, it->second.rr.rdata)) inst.addresses.push_back(*a);
      std::sort(inst.addresses.begin(), inst.addresses.end());
      inst.addresses.erase(std::unique(inst.addresses.begin(), inst.addresses.end()), inst.addresses.end());
      if (inst.addresses.empty()) {
        unresolved_.push_back({pe.ifindex, Question{srv->target, rrtype::kA, kClassIn, false}});
        unresolved_.push_back({pe.ifindex, Question{srv->target, rrtype::kAaaa, kClassIn, false}});
        continue;
      }
      std::string sig;
      for (auto& e : txt_entries(*strings)) {
        if (e.key == kSigKey) sig = e.value;
        else inst.txt.push_back(std::move(e));
      }
      if (!opts_.signing.trusted_keys.empty()) {
        live_keys.insert(key);
        if (!check_signature(key, inst, *full, srv->target, sig)) continue;
        inst.signature_verified = true;
      }
      list.push_back(std::move(inst));
    }
    std::sort(list.begin(), list.end(), [](const Instance& a, const Instance& c) {
      if (a.priority != c.priority) return a.priority < c.priority;
      if (a.weight != c.weight) return a.weight > c.weight;
      if (a.name != c.name) return a.name < c.name;
      return a.ifindex < c.ifindex;
    });
    if (list.size() > opts_.limits.max_instances_per_type) list.resize(opts_.limits.max_instances_per_type);

    auto same_id = [](const Instance& a, const Instance& c) { return a.ifindex == c.ifindex && a.name == c.name; };
    for (const auto& old : b.instances) {
      auto it = std::find_if(list.begin(), list.end(), [&](const Instance& n) { return same_id(old, n); });
      if (it == list.end()) events.push_back({BrowseEvent::Kind::kRemoved, old});
      else if (!(*it == old)) events.push_back({BrowseEvent::Kind::kUpdated, *it});
    }
    for (const auto& n : list)
      if (std::none_of(b.instances.begin(), b.instances.end(), [&](const Instance& o) { return same_id(o, n); }))
        events.push_back({BrowseEvent::Kind::kAdded, n});
    b.instances = std::move(list);
  }
  std::erase_if(verified_, [&](const auto& kv) { return !live_keys.count(kv.first); });
}

void Browser::collect_events(Time now, std::vector<BrowseEvent>& events) {
  if (!dirty_) return;
  dirty_ = false;
  recompute(now, events);
  if (unresolved_.empty()) {
    resolve_attempts_ = 0;
    resolve_at_ = kNever;
  } else if (started_ && resolve_at_ == kNever && resolve_attempts_ < kResolveAttempts) {
    resolve_at_ = now + Duration{rnd_.uniform(20, 120)};
  }
}

void Browser::send_query(uint32_t ifindex, std::vector<Question> qs, std::vector<Record> known,
                         std::vector<Packet>& out) {
  const InterfaceConfig* cfg = nullptr;
  for (const auto& i : opts_.interfaces)
    if (i.index == ifindex) cfg = &i;
  if (!cfg || qs.empty()) return;
  Message m;
  m.questions = std::move(qs);
  m.answers = std::move(known);
  auto bytes = encode(m);
  while (bytes.size() > opts_.limits.max_packet_size && !m.answers.empty()) {
    m.answers.resize(m.answers.size() / 2);  // fewer known answers rather than TC handling
    bytes = encode(m);
  }
  if (bytes.empty() || bytes.size() > opts_.limits.max_packet_size) return;
  bool v4 = false, v6 = false;
  for (const auto& a : cfg->addresses) {
    v4 |= a.is_v4() && opts_.ipv4;
    v6 |= a.is_v6() && opts_.ipv6;
  }
  if (v4) out.push_back(Packet{bytes, ifindex, Destination::multicast(4)});
  if (v6) out.push_back(Packet{bytes, ifindex, Destination::multicast(6)});
  stats_.packets_out += uint64_t(v4) + uint64_t(v6);
}

void Browser::on_timer(Time now, std::vector<Packet>& out) {
  // Expiry.
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (it->second.expires <= now) {
      it = cache_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
  if (!started_) return;
  std::map<uint32_t, std::vector<Question>> questions;
  auto ask = [&](uint32_t ifindex, const Question& q) {
    auto& qs = questions[ifindex];
    for (const auto& e : qs)
      if (e.type == q.type && name_equal(e.name, q.name)) return;
    qs.push_back(q);
  };
  // Continuous browse queries with backoff (RFC 6762 5.2).
  std::vector<const Browse*> due;
  for (auto& b : browses_) {
    if (b.next_query > now) continue;
    due.push_back(&b);
    for (const auto& i : opts_.interfaces) ask(i.index, Question{b.name, rrtype::kPtr, kClassIn, false});
    b.next_query = now + b.interval;
    b.interval = std::min(b.interval * 2, opts_.limits.max_query_interval);
  }
  // Cache refresh at 80/85/90/95 % of the TTL.
  for (auto& [key, e] : cache_) {
    if (e.refresh_at > now) continue;
    ask(e.ifindex, Question{e.rr.name, e.rr.type, kClassIn, false});
    ++e.stage;
    schedule_refresh(e);
  }
  // Resolution of instances still missing SRV, TXT or addresses.
  if (resolve_at_ <= now) {
    for (const auto& [ifindex, q] : unresolved_) ask(ifindex, q);
    ++resolve_attempts_;
    resolve_at_ = resolve_attempts_ < kResolveAttempts ? now + Duration{1000 << resolve_attempts_} : kNever;
  }
  for (auto& [ifindex, qs] : questions) {
    // Known answers: PTRs for the asked types with more than half their TTL left (RFC 6762 7.1).
    std::vector<Record> known;
    for (const auto& q : qs) {
      if (q.type != rrtype::kPtr) continue;
      auto range = cache_.equal_range(name_lower(q.name));
      for (auto it = range.first; it != range.second; ++it) {
        const Entry& e = it->second;
        if (e.ifindex != ifindex || e.rr.type != rrtype::kPtr || e.rr.ttl == 0) continue;
        auto left = std::chrono::duration_cast<std::chrono::seconds>(e.expires - now).count();
        if (left * 2 <= int64_t(e.rr.ttl)) continue;
        Record k = e.rr;
        k.cache_flush = false;
        k.ttl = uint32_t(left);
        known.push_back(std::move(k));
      }
    }
    send_query(ifindex, std::move(qs), std::move(known), out);
  }
}

Time Browser::next_wakeup() const {
  Time t = resolve_at_;
  if (started_)
    for (const auto& b : browses_) t = std::min(t, b.next_query);
  for (const auto& [key, e] : cache_) t = std::min({t, e.expires, started_ ? e.refresh_at : kNever});
  return t;
}

}  // namespace portico::mdns
