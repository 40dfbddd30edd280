#include "dnscache/local_data.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace portico::dnscache {
namespace {

// Lower-cased wire form of an ldns name (the key used throughout dnscache).
std::string canonical_key(const ldns_rdf* name) {
  RdfPtr copy(ldns_rdf_clone(name));
  ldns_dname2canonical(copy.get());
  return std::string(reinterpret_cast<const char*>(ldns_rdf_data(copy.get())), ldns_rdf_size(copy.get()));
}

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Parent of a wire-form name ("" for the root). Keys come from ldns, so label
// lengths are valid.
std::string_view parent(std::string_view name) {
  if (name.size() <= 1) return {};
  return name.substr(static_cast<uint8_t>(name[0]) + 1);
}

bool is_at_or_below(std::string_view name, std::string_view apex) {
  for (std::string_view n = name; !n.empty(); n = parent(n)) {
    if (n.size() == apex.size() && n == apex) return true;
    if (n.size() < apex.size()) return false;
  }
  return false;
}

std::string status_text(ldns_status st) {
  const char* s = ldns_get_errorstr_by_id(st);
  return s ? s : "unknown ldns error";
}

// Reads an RFC 1035 master file RR by RR with ldns_rr_new_frm_fp_l ($ORIGIN and
// $TTL handled by ldns). Not ldns_zone_new_frm_fp_l: it leaks the records read so
// far when a later line is bad (ldns 1.8.3), and a bad zone must not leak on reload.
bool read_zone_file(const std::string& path, const ldns_rdf* zone_origin, std::vector<RrPtr>& out,
                    std::string& error) {
  FILE* fp = std::fopen(path.c_str(), "r");
  if (!fp) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  ldns_rdf* origin = ldns_rdf_clone(zone_origin);
  ldns_rdf* prev = ldns_rdf_clone(zone_origin);
  uint32_t ttl = 3600;
  int line = 0;
  bool ok = true;
  while (ok && !std::feof(fp)) {
    ldns_rr* rr = nullptr;
    const ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line);
    if (st == LDNS_STATUS_OK) {
      out.emplace_back(rr);
    } else if (st != LDNS_STATUS_SYNTAX_EMPTY && st != LDNS_STATUS_SYNTAX_TTL &&
               st != LDNS_STATUS_SYNTAX_ORIGIN) {
      if (rr) ldns_rr_free(rr);
      error = path + ":" + std::to_string(line) + ": " + status_text(st);
      ok = false;
    }
  }
  std::fclose(fp);
  ldns_rdf_deep_free(origin);
  ldns_rdf_deep_free(prev);
  return ok;
}

}  // namespace

void LocalData::add_rr(Zone& zone, std::string_view owner, RrPtr rr) {
  zone.nodes[std::string(owner)].rrs.push_back(std::move(rr));
  // Empty non-terminals exist (NODATA, not NXDOMAIN).
  for (std::string_view n = parent(owner); !n.empty() && n.size() >= zone.apex.size(); n = parent(n)) {
    if (zone.nodes.find(n) != zone.nodes.end()) break;
    zone.nodes.emplace(std::string(n), Node{});
    if (n == zone.apex) break;
  }
}

std::unique_ptr<LocalData> LocalData::load(const std::vector<ZoneSpec>& zones,
                                           const std::vector<std::string>& records,
                                           std::string& error) {
  auto data = std::unique_ptr<LocalData>(new LocalData());
  for (const ZoneSpec& spec : zones) {
    const std::string where = "zone " + spec.name;
    std::string origin_text = spec.name;
    if (origin_text.empty() || origin_text.back() != '.') origin_text += '.';
    RdfPtr origin(ldns_dname_new_frm_str(origin_text.c_str()));
    if (!origin) {
      error = where + ": invalid zone name";
      return nullptr;
    }
    std::vector<RrPtr> rrs;
    std::string read_error;
    if (!read_zone_file(spec.file, origin.get(), rrs, read_error)) {
      error = where + ": " + read_error;
      return nullptr;
    }
    const std::string apex = canonical_key(origin.get());
    const ldns_rr* soa = nullptr;
    for (const RrPtr& rr : rrs) {
      if (ldns_rr_get_type(rr.get()) != LDNS_RR_TYPE_SOA) continue;
      if (soa) {
        error = where + ": " + spec.file + ": more than one SOA record";
        return nullptr;
      }
      soa = rr.get();
    }
    if (!soa) {
      error = where + ": " + spec.file + ": no SOA record";
      return nullptr;
    }
    if (canonical_key(ldns_rr_owner(soa)) != apex) {
      error = where + ": " + spec.file + ": SOA owner is not the zone name";
      return nullptr;
    }
    if (data->zones_.count(apex)) {
      error = where + ": zone listed twice";
      return nullptr;
    }
    Zone zone;
    zone.apex = apex;
    zone.soa.reset(ldns_rr_clone(soa));
    for (RrPtr& rr : rrs) {
      const std::string owner = canonical_key(ldns_rr_owner(rr.get()));
      if (!is_at_or_below(owner, apex)) {
        char* text = ldns_rr2str(rr.get());
        error = where + ": " + spec.file + ": record outside the zone: " + (text ? text : "?");
        LDNS_FREE(text);
        while (!error.empty() && error.back() == '\n') error.pop_back();
        return nullptr;
      }
      add_rr(zone, owner, std::move(rr));
    }
    data->zones_.emplace(apex, std::move(zone));
  }

  for (size_t i = 0; i < records.size(); ++i) {
    ldns_rr* raw = nullptr;
    const ldns_status st = ldns_rr_new_frm_str(&raw, records[i].c_str(), 3600, nullptr, nullptr);
    RrPtr rr(raw);
    if (st != LDNS_STATUS_OK) {
      error = "records[" + std::to_string(i) + "] \"" + records[i] + "\": " + status_text(st);
      return nullptr;
    }
    const std::string owner = canonical_key(ldns_rr_owner(rr.get()));
    Zone* target = nullptr;
    for (std::string_view n = owner; !n.empty(); n = parent(n)) {
      auto it = data->zones_.find(n);
      if (it != data->zones_.end() && (!it->second.exact_only || n == owner)) {
        target = &it->second;
        break;
      }
    }
    if (!target) {
      Zone zone;
      zone.apex = owner;
      zone.exact_only = true;
      target = &data->zones_.emplace(owner, std::move(zone)).first->second;
    }
    add_rr(*target, owner, std::move(rr));
  }
  return data;
}

const LocalData::Zone* LocalData::find_zone(std::string_view name) const {
  for (std::string_view n = name; !n.empty(); n = parent(n)) {
    auto it = zones_.find(n);
    if (it == zones_.end()) continue;
    if (it->second.exact_only && n.size() != name.size()) continue;
    return &it->second;
  }
  return nullptr;
}

bool LocalData::answer(const QuestionKey& key, uint32_t max_chain, Response& out) const {
  if (zones_.empty()) return false;
  if (key.klass != LDNS_RR_CLASS_IN && key.klass != LDNS_RR_CLASS_ANY) return false;
  const Zone* zone = find_zone(key.name);
  if (!zone) return false;

  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_aa(p.get(), true);
  ldns_rr* q = ldns_rr_new();
  ldns_rr_set_owner(q, name_rdf(bytes(key.name)).release());
  ldns_rr_set_type(q, static_cast<ldns_rr_type>(key.type));
  ldns_rr_set_class(q, static_cast<ldns_rr_class>(key.klass));
  ldns_rr_set_question(q, true);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, q);

  auto push = [&](const ldns_rr* rr, std::string_view owner, bool rename) {
    ldns_rr* c = ldns_rr_clone(rr);
    if (rename) {
      ldns_rdf_deep_free(ldns_rr_owner(c));
      ldns_rr_set_owner(c, name_rdf(bytes(owner)).release());
    }
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, c);
  };

  std::string cur = key.name;
  uint8_t rcode = LDNS_RCODE_NOERROR;
  bool need_soa = false;
  for (uint32_t chain = 0;; ++chain) {
    auto it = zone->nodes.find(cur);
    bool wildcard = false;
    if (it == zone->nodes.end()) {
      if (!zone->exact_only) {
        // RFC 4592: the wildcard child of the closest encloser, if any.
        std::string_view encloser = parent(cur);
        while (encloser.size() > zone->apex.size() && zone->nodes.find(encloser) == zone->nodes.end()) {
          encloser = parent(encloser);
        }
        std::string wild("\x01*", 2);
        wild.append(encloser);
        it = zone->nodes.find(wild);
        wildcard = it != zone->nodes.end();
      }
      if (!wildcard) {
        rcode = LDNS_RCODE_NXDOMAIN;
        need_soa = true;
        break;
      }
    }
    const Node& node = it->second;
    uint16_t want = key.type;
    if (want == LDNS_RR_TYPE_ANY && !node.rrs.empty()) {
      want = ldns_rr_get_type(node.rrs.front().get());  // RFC 8482: one RRset
    }
    bool found = false;
    for (const RrPtr& rr : node.rrs) {
      if (ldns_rr_get_type(rr.get()) == want) {
        push(rr.get(), cur, wildcard);
        found = true;
      }
    }
    if (found) break;
    const ldns_rr* cname = nullptr;
    if (key.type != LDNS_RR_TYPE_CNAME) {
      for (const RrPtr& rr : node.rrs) {
        if (ldns_rr_get_type(rr.get()) == LDNS_RR_TYPE_CNAME) cname = rr.get();
      }
    }
    if (!cname) {
      need_soa = true;  // NODATA
      break;
    }
    push(cname, cur, wildcard);
    if (chain + 1 >= max_chain || ldns_rr_rd_count(cname) < 1) break;
    std::string target = canonical_key(ldns_rr_rdf(cname, 0));
    const Zone* next = find_zone(target);
    if (!next) break;  // leaves local data: the client's resolver follows it
    zone = next;
    cur = std::move(target);
  }
  if (need_soa && zone->soa) {
    ldns_rr* soa = ldns_rr_clone(zone->soa.get());
    uint32_t ttl = ldns_rr_ttl(soa);
    if (ldns_rr_rd_count(soa) >= 7) {
      ttl = std::min(ttl, ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)));  // RFC 2308
    }
    ldns_rr_set_ttl(soa, ttl);
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_AUTHORITY, soa);
  }
  ldns_pkt_set_rcode(p.get(), rcode);
  if (response_from_pkt(p.get(), out)) return true;
  // Larger than any DNS message (an RRset of over 64 KiB): the name is still
  // ours, so it must not be forwarded; the question alone, with SERVFAIL.
  PktPtr fail(ldns_pkt_new());
  ldns_pkt_set_qr(fail.get(), true);
  ldns_pkt_push_rr(fail.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(q));
  ldns_pkt_set_rcode(fail.get(), LDNS_RCODE_SERVFAIL);
  return response_from_pkt(fail.get(), out);
}

}  // namespace portico::dnscache
