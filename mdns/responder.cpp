#include "mdns/responder.hpp"

#include <algorithm>

#include "mdns/signing.hpp"

namespace portico::mdns {

namespace {

using std::chrono::milliseconds;
constexpr Duration kProbeInterval{250};
constexpr Duration kAnnounceInterval{1000};
constexpr Duration kTiebreakBackoff{1000};
constexpr Duration kMulticastInterval{1000};
constexpr Duration kProbeDefenceInterval{250};
constexpr int kProbes = 3;
constexpr uint32_t kLegacyTtlCap = 10;

const Name& local_name() {
  static const Name n = name_from_dotted("local");
  return n;
}
const Name& services_enum_name() {
  static const Name n = name_from_dotted("_services._dns-sd._udp.local");
  return n;
}

int fam_index(uint8_t family) { return family == 6 ? 1 : 0; }

// Appends " (n)" / "-n" to `base`, truncating base (on a UTF-8 boundary) to fit 63 bytes.
std::string with_suffix(const std::string& base, const std::string& suffix) {
  size_t keep = std::min(base.size(), kMaxLabel - suffix.size());
  while (keep > 0 && keep < base.size() && (uint8_t(base[keep]) & 0xC0) == 0x80) --keep;
  return base.substr(0, keep) + suffix;
}

}  // namespace

Responder::Responder(const Options& opts, Random& rnd, Stats& stats)
    : opts_(opts), rnd_(rnd), stats_(stats) {
  host_.base = host_.label = opts.hostname;
  for (const auto& s : opts.services) add_service(s, Time{});
  for (const auto& i : opts.interfaces) ifaces_.push_back(Iface{i, {}, {}, {}});
  rebuild();
}

const Responder::Owner* Responder::owner_ptr(int id) const {
  if (id == kHost) return &host_;
  if (id >= 0 && size_t(id) < services_.size()) return &services_[size_t(id)].own;
  return nullptr;
}

bool Responder::active(const OwnedRecord& r) const {
  auto on = [](const Owner& o) { return o.phase == Phase::kAnnouncing || o.phase == Phase::kEstablished; };
  if (r.owner == kEnum) {
    // Active when any active service has this type.
    for (const auto& s : services_)
      if (on(s.own) && rdata_equal(rrtype::kPtr, rdata_name(s.type_name), r.rr.rdata)) return true;
    return false;
  }
  const Owner* o = owner_ptr(r.owner);
  return o && on(*o);
}

std::vector<std::string> Responder::service_names() const {
  std::vector<std::string> out;
  for (const auto& s : services_) out.push_back(s.own.label);
  return out;
}

bool Responder::established() const {
  if (host_.phase != Phase::kEstablished) return false;
  for (const auto& s : services_)
    if (s.own.phase != Phase::kEstablished) return false;
  return true;
}

Responder::Iface* Responder::find_iface(uint32_t ifindex) {
  for (auto& f : ifaces_)
    if (f.cfg.index == ifindex) return &f;
  return nullptr;
}

std::vector<uint8_t> Responder::families(const Iface& f) const {
  std::vector<uint8_t> out;
  if (f.has_v4) out.push_back(4);
  if (f.has_v6) out.push_back(6);
  return out;
}

const std::vector<uint32_t>* Responder::lookup(const Iface& f, const Name& n) const {
  auto it = f.by_name.find(name_lower(n));
  return it == f.by_name.end() ? nullptr : &it->second;
}

// ---- records --------------------------------------------------------------------------

void Responder::rebuild() {
  host_.name = name_from_labels({host_.label, "local"});
  owned_names_.clear();
  owned_names_[name_lower(host_.name)] = kHost;
  for (size_t i = 0; i < services_.size(); ++i) {
    auto& s = services_[i];
    s.own.name = name_prepend(s.own.label, s.type_name);
    owned_names_[name_lower(s.own.name)] = int(i);
  }
  for (auto& f : ifaces_) build_iface(f);
}

void Responder::build_iface(Iface& f) {
  f.recs.clear();
  f.by_name.clear();
  f.pending[0] = f.pending[1] = Pending{};
  const auto& lim = opts_.limits;
  auto add = [&](int owner, bool unique, const Name& name, uint16_t type, uint32_t ttl,
                 std::vector<uint8_t> rdata) {
    OwnedRecord r;
    r.rr = Record{name, type, kClassIn, unique, ttl, std::move(rdata)};
    r.owner = owner;
    r.unique = unique;
    f.by_name[name_lower(name)].push_back(uint32_t(f.recs.size()));
    f.recs.push_back(std::move(r));
  };
  std::vector<IpAddress> addrs;
  f.has_v4 = f.has_v6 = false;
  for (const auto& a : f.cfg.addresses) {
    if (a.is_v4() && opts_.ipv4) f.has_v4 = true;
    else if (a.is_v6() && opts_.ipv6) f.has_v6 = true;
    else continue;
    addrs.push_back(a);
  }
  std::vector<uint16_t> host_types;
  for (const auto& a : addrs) {
    uint16_t t = a.is_v4() ? rrtype::kA : rrtype::kAaaa;
    add(kHost, true, host_.name, t, lim.host_ttl_s, rdata_address(a));
    if (std::find(host_types.begin(), host_types.end(), t) == host_types.end()) host_types.push_back(t);
  }
  add(kHost, true, host_.name, rrtype::kNsec, lim.host_ttl_s, rdata_nsec(host_.name, host_types));

  for (size_t i = 0; i < services_.size(); ++i) {
    const auto& s = services_[i];
    int id = int(i);
    add(id, false, s.type_name, rrtype::kPtr, lim.service_ttl_s, rdata_name(s.own.name));
    for (const auto& sub : s.cfg.subtypes) {
      Name sub_name = name_prepend(sub, name_prepend("_sub", s.type_name));
      if (!sub_name.empty()) add(id, false, sub_name, rrtype::kPtr, lim.service_ttl_s, rdata_name(s.own.name));
    }
    bool have_enum = false;
    if (auto* list = lookup(f, services_enum_name()))
      for (auto idx : *list) have_enum |= rdata_equal(rrtype::kPtr, f.recs[idx].rr.rdata, rdata_name(s.type_name));
    if (!have_enum)
      add(kEnum, false, services_enum_name(), rrtype::kPtr, lim.service_ttl_s, rdata_name(s.type_name));
    add(id, true, s.own.name, rrtype::kSrv, lim.host_ttl_s,
        rdata_srv(s.cfg.priority, s.cfg.weight, s.cfg.port, host_.name));
    auto txt = s.cfg.txt;
    if (opts_.signing.private_key) {
      SignedFields sf{s.own.name, host_.name, s.cfg.port, s.cfg.priority, s.cfg.weight, s.cfg.txt, addrs};
      txt.push_back({std::string(kSigKey), sign(sf, *opts_.signing.private_key), true});
    }
    add(id, true, s.own.name, rrtype::kTxt, lim.service_ttl_s, rdata_txt(txt_strings(txt)));
    add(id, true, s.own.name, rrtype::kNsec, lim.service_ttl_s,
        rdata_nsec(s.own.name, {rrtype::kTxt, rrtype::kSrv}));
  }
}

// ---- lifecycle ------------------------------------------------------------------------

void Responder::begin_probing(Owner& o, Time now, Duration delay) {
  o.phase = Phase::kProbing;
  o.count = 0;
  // RFC 6762 8.1: more than 15 conflicts in 10 s -> wait 5 s before probing.
  while (!conflict_times_.empty() && conflict_times_.front() + milliseconds(10000) <= now)
    conflict_times_.pop_front();
  if (int(conflict_times_.size()) >= opts_.limits.conflicts_before_slowdown)
    delay = std::max(delay, opts_.limits.conflict_slowdown);
  o.next = now + delay;
}

void Responder::start(Time now) {
  started_ = true;
  // One random 0-250 ms delay for everything we own (RFC 6762 8.1), so probes aggregate.
  Duration d{rnd_.uniform(0, 250)};
  begin_probing(host_, now, d);
  for (auto& s : services_) begin_probing(s.own, now, d);
}

void Responder::stop(Time now, std::vector<Packet>& out) {
  (void)now;
  std::vector<int> ids;
  if (active(OwnedRecord{{}, kHost, true, {}})) ids.push_back(kHost);
  for (size_t i = 0; i < services_.size(); ++i)
    if (active(OwnedRecord{{}, int(i), true, {}})) ids.push_back(int(i));
  send_goodbyes(ids, out);
  host_.phase = Phase::kIdle;
  host_.next = kNever;
  for (auto& s : services_) {
    s.own.phase = Phase::kIdle;
    s.own.next = kNever;
  }
  for (auto& f : ifaces_) f.pending[0] = f.pending[1] = Pending{};
  started_ = false;
}

bool Responder::add_service(const ServiceConfig& svc, Time now) {
  Service s;
  s.cfg = svc;
  {
    Name t = name_from_dotted(svc.type);
    if (t.empty()) return false;
    s.type_name = t.substr(0, t.size() - 1) + local_name();
  }
  s.own.base = s.own.label = svc.instance;
  if (svc.instance.empty() || svc.instance.size() > kMaxLabel) return false;
  if (name_prepend(svc.instance, s.type_name).empty()) return false;
  for (const auto& o : services_)
    if (name_equal(name_prepend(o.own.label, o.type_name), name_prepend(svc.instance, s.type_name)))
      return false;
  services_.push_back(std::move(s));
  if (!ifaces_.empty() || started_) rebuild();
  if (started_) begin_probing(services_.back().own, now, Duration{rnd_.uniform(0, 250)});
  return true;
}

bool Responder::remove_service(std::string_view instance, std::string_view type, Time now,
                               std::vector<Packet>& out) {
  (void)now;
  Name t = name_from_dotted(type);
  for (size_t i = 0; i < services_.size(); ++i) {
    auto& s = services_[i];
    if (s.cfg.instance != instance || t.empty() ||
        !name_equal(t.substr(0, t.size() - 1) + local_name(), s.type_name))
      continue;
    if (active(OwnedRecord{{}, int(i), true, {}})) {
      // Goodbye also for the enumeration PTR unless another active service shares the type.
      Phase saved = s.own.phase;
      send_goodbyes({int(i)}, out);
      s.own.phase = saved;
    }
    services_.erase(services_.begin() + long(i));
    rebuild();
    return true;
  }
  return false;
}

void Responder::rename(int id, Time now) {
  Owner& o = owner(id);
  ++stats_.conflicts;
  conflict_times_.push_back(now);
  while (conflict_times_.size() > 32) conflict_times_.pop_front();
  if (o.suffix >= opts_.limits.max_rename_attempts) {
    o.phase = Phase::kIdle;  // give up: stay silent rather than fight forever
    o.next = kNever;
    return;
  }
  ++o.suffix;
  o.label = id == kHost ? with_suffix(o.base, "-" + std::to_string(o.suffix))
                        : with_suffix(o.base, " (" + std::to_string(o.suffix) + ")");
  rebuild();
  begin_probing(o, now, Duration{rnd_.uniform(0, 250)});
  if (id == kHost) {
    // SRV targets and signatures changed: re-announce the services already published.
    for (auto& s : services_)
      if (s.own.phase == Phase::kAnnouncing || s.own.phase == Phase::kEstablished) {
        s.own.phase = Phase::kAnnouncing;
        s.own.count = 0;
        s.own.next = o.next + kProbeInterval * kProbes;
      }
  }
}

// ---- incoming -------------------------------------------------------------------------

bool Responder::ours(const Record& r) const {
  for (const auto& f : ifaces_)
    if (auto* list = lookup(f, r.name))
      for (auto i : *list)
        if (same_record(f.recs[i].rr, r)) return true;
  return false;
}

bool Responder::tiebreak_lost(const Iface& f, const Owner& o, const Message& m) const {
  std::vector<Record> theirs, mine;
  for (const auto& r : m.authority)
    if (name_equal(r.name, o.name)) theirs.push_back(r);
  if (theirs.empty()) return false;
  if (auto* list = lookup(f, o.name))
    for (auto i : *list)
      if (f.recs[i].unique && f.recs[i].rr.type != rrtype::kNsec) mine.push_back(f.recs[i].rr);
  auto less = [](const Record& a, const Record& b) { return compare_for_tiebreak(a, b) < 0; };
  std::sort(theirs.begin(), theirs.end(), less);
  std::sort(mine.begin(), mine.end(), less);
  for (size_t i = 0; i < std::min(theirs.size(), mine.size()); ++i) {
    int c = compare_for_tiebreak(mine[i], theirs[i]);
    if (c != 0) return c < 0;
  }
  return mine.size() < theirs.size();  // identical prefix: the longer set wins
}

void Responder::on_query(const Message& m, const Source& src, Time now, std::vector<Packet>& out) {
  Iface* f = find_iface(src.ifindex);
  if (!f) return;
  bool legacy = src.from.port != kMdnsPort;
  bool probe = !m.authority.empty();

  // Simultaneous probe tie-breaking (RFC 6762 8.2).
  if (probe && !legacy) {
    auto check = [&](Owner& o) {
      if (o.phase != Phase::kProbing) return;
      if (tiebreak_lost(*f, o, m)) {
        ++stats_.tiebreaks_lost;
        o.count = 0;
        o.next = now + kTiebreakBackoff;
      }
    };
    check(host_);
    for (auto& s : services_) check(s.own);
  }

  std::vector<uint8_t> mark(f->recs.size(), 0);  // 1 = answer, 2 = additional
  std::vector<uint32_t> answers, additional;
  for (const auto& q : m.questions) {
    if (q.qclass != kClassIn && q.qclass != kClassAny) continue;
    auto* list = lookup(*f, q.name);
    if (!list) continue;
    bool found = false;
    int nsec = -1;
    for (auto i : *list) {
      const auto& r = f->recs[i];
      if (!active(r)) continue;
      if (r.rr.type == rrtype::kNsec) nsec = int(i);
      bool match = q.type == rrtype::kAny ? r.rr.type != rrtype::kNsec : q.type == r.rr.type;
      if (!match) continue;
      found = true;
      if (!mark[i]) {
        mark[i] = 1;
        answers.push_back(i);
      }
    }
    if (!found && nsec >= 0 && !mark[size_t(nsec)]) {  // negative answer (RFC 6762 6.1)
      mark[size_t(nsec)] = 2;
      additional.push_back(uint32_t(nsec));
    }
  }
  if (answers.empty() && additional.empty()) return;

  // Known-answer suppression (RFC 6762 7.1).
  for (const auto& ka : m.answers) {
    auto* list = lookup(*f, ka.name);
    if (!list) continue;
    for (auto i : *list) {
      const auto& r = f->recs[i];
      if (mark[i] == 1 && same_record(r.rr, ka) && ka.ttl >= r.rr.ttl / 2) {
        mark[i] = 0;
        ++stats_.answers_suppressed_known;
      }
    }
  }
  std::erase_if(answers, [&](uint32_t i) { return mark[i] != 1; });
  if (answers.empty() && additional.empty()) return;
  add_additionals(*f, answers, additional, mark);

  auto records = [&](const std::vector<uint32_t>& idx) {
    std::vector<Record> rs;
    rs.reserve(idx.size());
    for (auto i : idx) rs.push_back(f->recs[i].rr);
    return rs;
  };
  if (legacy) {
    // RFC 6762 6.7: unicast to the querier, ID and question echoed, TTL <= 10 s, no flush bit.
    Message r;
    r.id = m.id;
    r.qr = r.aa = true;
    r.questions = m.questions;
    for (auto& q : r.questions) q.unicast_response = false;
    r.answers = records(answers);
    r.additional = records(additional);
    for (auto* sec : {&r.answers, &r.additional})
      for (auto& rr : *sec) {
        rr.ttl = std::min(rr.ttl, kLegacyTtlCap);
        rr.cache_flush = false;
      }
    emit(std::move(r), f->cfg.index, Destination::to(src.from), out, true);
    return;
  }
  bool all_qu = !m.questions.empty() &&
                std::all_of(m.questions.begin(), m.questions.end(), [](const Question& q) { return q.unicast_response; });
  if (all_qu || !src.to_multicast) {
    Message r;
    r.id = m.id;
    r.qr = r.aa = true;
    r.answers = records(answers);
    r.additional = records(additional);
    emit(std::move(r), f->cfg.index, Destination::to(src.from), out, false);
    return;
  }
  uint8_t fam = src.from.addr.is_v6() ? 6 : 4;
  if ((fam == 4 && !f->has_v4) || (fam == 6 && !f->has_v6)) return;
  bool shared = std::any_of(answers.begin(), answers.end(), [&](uint32_t i) { return !f->recs[i].unique; });
  if (!shared || probe) {
    send_multicast(*f, fam, std::move(answers), additional,
                   probe ? kProbeDefenceInterval : kMulticastInterval, now, out);
    return;
  }
  // Shared answers: wait 20-120 ms, aggregating with other queries (RFC 6762 6).
  Pending& p = f->pending[fam_index(fam)];
  if (p.due == kNever) p.due = now + Duration{rnd_.uniform(20, 120)};
  for (auto i : answers)
    if (std::find(p.answers.begin(), p.answers.end(), i) == p.answers.end()) p.answers.push_back(i);
  for (auto i : additional)
    if (std::find(p.additional.begin(), p.additional.end(), i) == p.additional.end()) p.additional.push_back(i);
}

void Responder::add_additionals(const Iface& f, std::vector<uint32_t>& answers,
                                std::vector<uint32_t>& add, std::vector<uint8_t>& mark) const {
  auto add_name = [&](const Name& n, std::initializer_list<uint16_t> types) {
    auto* list = lookup(f, n);
    if (!list) return;
    for (auto i : *list) {
      const auto& r = f.recs[i];
      if (mark[i] || !active(r) || std::find(types.begin(), types.end(), r.rr.type) == types.end()) continue;
      mark[i] = 2;
      add.push_back(i);
    }
  };
  auto add_host = [&](const Name& host) {
    bool has_a = false, has_aaaa = false;
    if (auto* list = lookup(f, host))
      for (auto i : *list) {
        has_a |= f.recs[i].rr.type == rrtype::kA;
        has_aaaa |= f.recs[i].rr.type == rrtype::kAaaa;
      }
    if (has_a && has_aaaa) add_name(host, {rrtype::kA, rrtype::kAaaa});
    else add_name(host, {rrtype::kA, rrtype::kAaaa, rrtype::kNsec});  // NSEC: the missing one
  };
  // RFC 6763 12: PTR -> SRV, TXT, addresses; SRV -> addresses; RFC 6762 6.2: A <-> AAAA.
  size_t n = answers.size();
  for (size_t k = 0; k < n; ++k) {
    const auto& r = f.recs[answers[k]];
    if (r.rr.type == rrtype::kPtr && r.owner >= 0) {
      auto inst = parse_ptr(r.rr.rdata);
      if (!inst) continue;
      add_name(*inst, {rrtype::kSrv, rrtype::kTxt});
      add_host(host_.name);
    } else if (r.rr.type == rrtype::kSrv) {
      add_host(host_.name);
    } else if (r.rr.type == rrtype::kA || r.rr.type == rrtype::kAaaa) {
      add_host(r.rr.name);
    }
  }
}

void Responder::on_response(const Message& m, const Source& src, Time now) {
  Iface* f = find_iface(src.ifindex);
  if (!f) return;
  std::vector<int> conflicted;
  auto scan = [&](const Record& r) {
    // Duplicate-answer suppression (RFC 6762 7.4) for our delayed answers on this link.
    Pending& p = f->pending[fam_index(src.from.addr.is_v6() ? 6 : 4)];
    if (p.due != kNever) {
      std::erase_if(p.answers, [&](uint32_t i) {
        bool dup = same_record(f->recs[i].rr, r) && r.ttl >= f->recs[i].rr.ttl / 2;
        if (dup) ++stats_.answers_suppressed_duplicate;
        return dup;
      });
      if (p.answers.empty()) p = Pending{};
    }
    // Conflicts (RFC 6762 8.1 and 9).
    if (r.ttl == 0 || r.rrclass != kClassIn || r.type == rrtype::kNsec) return;
    auto it = owned_names_.find(name_lower(r.name));
    if (it == owned_names_.end()) return;
    int id = it->second;
    const Owner* o = owner_ptr(id);
    if (!o || o->phase == Phase::kIdle) return;
    if (std::find(conflicted.begin(), conflicted.end(), id) != conflicted.end()) return;
    if (ours(r)) return;
    bool conflict = o->phase == Phase::kProbing;
    if (!conflict) {
      // Established: a conflict only if we own records of that type for the name.
      if (auto* list = lookup(*f, r.name))
        for (auto i : *list) conflict |= f->recs[i].unique && f->recs[i].rr.type == r.type;
    }
    if (conflict) conflicted.push_back(id);
  };
  for (const auto& r : m.answers) scan(r);
  for (const auto& r : m.additional) scan(r);
  for (int id : conflicted) rename(id, now);
}

// ---- outgoing -------------------------------------------------------------------------

void Responder::emit(Message m, uint32_t ifindex, const Destination& dst, std::vector<Packet>& out,
                     bool truncate_ok) {
  const size_t max = opts_.limits.max_packet_size;
  auto bytes = encode(m);
  if (bytes.empty() && !(m.answers.empty() && m.authority.empty() && m.questions.empty())) return;
  if (bytes.size() > max && !m.additional.empty()) {
    m.additional.clear();  // additional records are optional: drop them first
    bytes = encode(m);
  }
  if (bytes.size() > max && m.answers.size() > 1) {
    if (truncate_ok) {  // legacy unicast: one reply, TC set
      while (bytes.size() > max && m.answers.size() > 1) {
        m.answers.resize(m.answers.size() / 2);
        m.tc = true;
        bytes = encode(m);
      }
    } else {
      Message second = m;
      size_t half = m.answers.size() / 2;
      second.answers.assign(m.answers.begin() + long(half), m.answers.end());
      m.answers.resize(half);
      emit(std::move(m), ifindex, dst, out, false);
      emit(std::move(second), ifindex, dst, out, false);
      return;
    }
  }
  ++stats_.packets_out;
  out.push_back(Packet{std::move(bytes), ifindex, dst});
}

void Responder::send_multicast(Iface& f, uint8_t fam, std::vector<uint32_t> answers,
                               const std::vector<uint32_t>& additional, Duration min_interval,
                               Time now, std::vector<Packet>& out) {
  int fi = fam_index(fam);
  bool had_answers = !answers.empty();
  std::erase_if(answers, [&](uint32_t i) {
    bool recent = f.recs[i].last_multicast[fi] > now - min_interval;
    if (recent) ++stats_.answers_rate_limited;
    return recent;
  });
  // Additional records alone are sent only for a negative answer (NSEC, RFC 6762 6.1).
  if ((had_answers && answers.empty()) || (answers.empty() && additional.empty())) return;
  Message m;
  m.qr = m.aa = true;
  for (auto i : answers) {
    m.answers.push_back(f.recs[i].rr);
    f.recs[i].last_multicast[fi] = now;
  }
  for (auto i : additional) m.additional.push_back(f.recs[i].rr);
  emit(std::move(m), f.cfg.index, Destination::multicast(fam), out, false);
}

void Responder::send_probes(Iface& f, uint8_t fam, const std::vector<int>& ids, std::vector<Packet>& out) {
  Message m;
  for (int id : ids) {
    const Owner& o = *owner_ptr(id);
    // RFC 6762 8.1: the first probe asks for a unicast reply.
    m.questions.push_back({o.name, rrtype::kAny, kClassIn, o.count == 0});
    if (auto* list = lookup(f, o.name))
      for (auto i : *list)
        if (f.recs[i].unique && f.recs[i].rr.type != rrtype::kNsec) {
          Record r = f.recs[i].rr;
          r.cache_flush = false;
          m.authority.push_back(std::move(r));
        }
  }
  auto bytes = encode(m);
  if (bytes.size() > opts_.limits.max_packet_size && ids.size() > 1) {
    size_t half = ids.size() / 2;
    send_probes(f, fam, {ids.begin(), ids.begin() + long(half)}, out);
    send_probes(f, fam, {ids.begin() + long(half), ids.end()}, out);
    return;
  }
  if (bytes.empty()) return;
  ++stats_.packets_out;
  out.push_back(Packet{std::move(bytes), f.cfg.index, Destination::multicast(fam)});
}

void Responder::send_goodbyes(const std::vector<int>& ids, std::vector<Packet>& out) {
  if (ids.empty()) return;
  for (auto& f : ifaces_) {
    Message m;
    m.qr = m.aa = true;
    for (const auto& r : f.recs) {
      if (r.rr.type == rrtype::kNsec) continue;
      bool listed = std::find(ids.begin(), ids.end(), r.owner) != ids.end();
      if (r.owner == kEnum) {
        // Only when no other active service keeps this type alive.
        bool other = false;
        for (size_t i = 0; i < services_.size(); ++i)
          if (std::find(ids.begin(), ids.end(), int(i)) == ids.end() &&
              active(OwnedRecord{{}, int(i), true, {}}) &&
              rdata_equal(rrtype::kPtr, rdata_name(services_[i].type_name), r.rr.rdata))
            other = true;
        bool mine = false;
        for (int id : ids)
          if (id >= 0 && rdata_equal(rrtype::kPtr, rdata_name(services_[size_t(id)].type_name), r.rr.rdata))
            mine = true;
        listed = mine && !other;
      }
      if (!listed) continue;
      Record g = r.rr;
      g.ttl = 0;
      m.answers.push_back(std::move(g));
    }
    if (m.answers.empty()) continue;
    for (uint8_t fam : families(f)) emit(m, f.cfg.index, Destination::multicast(fam), out, false);
  }
}

void Responder::on_timer(Time now, std::vector<Packet>& out) {
  std::vector<int> probing, announcing;
  auto step = [&](int id) {
    Owner& o = owner(id);
    if (o.next > now) return;
    if (o.phase == Phase::kProbing) {
      if (o.count < kProbes) {
        probing.push_back(id);
        return;
      }
      o.phase = Phase::kAnnouncing;  // three probes and 250 ms without conflict: ours
      o.count = 0;
    }
    if (o.phase == Phase::kAnnouncing) announcing.push_back(id);
  };
  step(kHost);
  for (size_t i = 0; i < services_.size(); ++i) step(int(i));

  if (!probing.empty())
    for (auto& f : ifaces_)
      for (uint8_t fam : families(f)) send_probes(f, fam, probing, out);
  for (int id : probing) {
    Owner& o = owner(id);
    ++o.count;
    o.next = now + kProbeInterval;
  }
  if (!announcing.empty()) {
    for (auto& f : ifaces_) {
      std::vector<uint8_t> mark(f.recs.size(), 0);
      std::vector<uint32_t> answers, additional;
      for (uint32_t i = 0; i < f.recs.size(); ++i) {
        const auto& r = f.recs[i];
        if (r.rr.type == rrtype::kNsec) continue;
        bool listed = std::find(announcing.begin(), announcing.end(), r.owner) != announcing.end();
        if (r.owner == kEnum) {
          for (int id : announcing)
            listed |= id >= 0 && rdata_equal(rrtype::kPtr, rdata_name(services_[size_t(id)].type_name), r.rr.rdata);
        }
        if (!listed) continue;
        mark[i] = 1;
        answers.push_back(i);
      }
      add_additionals(f, answers, additional, mark);
      Message m;
      m.qr = m.aa = true;
      for (auto i : answers) m.answers.push_back(f.recs[i].rr);
      for (auto i : additional) m.additional.push_back(f.recs[i].rr);
      if (m.answers.empty()) continue;
      for (uint8_t fam : families(f)) {
        for (auto i : answers) f.recs[i].last_multicast[fam_index(fam)] = now;
        emit(m, f.cfg.index, Destination::multicast(fam), out, false);
      }
    }
    for (int id : announcing) {
      Owner& o = owner(id);
      ++o.count;
      if (o.count >= opts_.limits.announcements) {
        o.phase = Phase::kEstablished;  // no periodic announcements (RFC 6762 8.3)
        o.next = kNever;
      } else {
        o.next = now + kAnnounceInterval;
      }
    }
  }
  for (auto& f : ifaces_)
    for (uint8_t fam : {uint8_t(4), uint8_t(6)}) {
      Pending& p = f.pending[fam_index(fam)];
      if (p.due > now) continue;
      auto answers = std::move(p.answers);
      auto additional = std::move(p.additional);
      p = Pending{};
      std::erase_if(answers, [&](uint32_t i) { return !active(f.recs[i]); });
      send_multicast(f, fam, std::move(answers), additional, kMulticastInterval, now, out);
    }
}

Time Responder::next_wakeup() const {
  Time t = kNever;
  auto consider = [&](const Owner& o) {
    if (o.phase == Phase::kProbing || o.phase == Phase::kAnnouncing) t = std::min(t, o.next);
  };
  consider(host_);
  for (const auto& s : services_) consider(s.own);
  for (const auto& f : ifaces_) t = std::min({t, f.pending[0].due, f.pending[1].due});
  return t;
}

}  // namespace portico::mdns
