#include "dnscache/cache.hpp"

#include <algorithm>
#include <limits>

namespace portico::dnscache {

size_t Cache::cost(const CacheEntry& e) {
  return sizeof(CacheEntry) + e.key.name.size() + e.response.wire.size() +
         e.response.ttl_offsets.size() * (sizeof(uint16_t) + sizeof(uint32_t));
}

CacheEntry* Cache::find(const QuestionKey& key, Time now, Time stale_window) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  List::iterator e = it->second;
  const bool too_old = e->expires + stale_window <= now || (stale_window == Time::zero() && e->expires <= now);
  if (too_old) {
    erase(e);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, e);
  return &*e;
}

void Cache::insert(const QuestionKey& key, Response&& response, uint32_t ttl, Time now) {
  auto it = index_.find(key);
  if (it != index_.end()) erase(it->second);
  lru_.emplace_front();
  CacheEntry& e = lru_.front();
  e.key = key;
  e.response = std::move(response);
  e.stored = now;
  e.ttl = ttl;
  e.expires = now + std::chrono::seconds(ttl);
  index_.emplace(key, lru_.begin());
  bytes_ += cost(e);
  trim();
}

void Cache::erase(List::iterator it) {
  bytes_ -= cost(*it);
  index_.erase(it->key);
  lru_.erase(it);
}

void Cache::trim() {
  while (!lru_.empty() && (index_.size() > max_entries_ || bytes_ > max_bytes_)) {
    erase(std::prev(lru_.end()));
    ++evictions_;
  }
}

void Cache::set_limits(size_t max_entries, size_t max_bytes) {
  max_entries_ = max_entries;
  max_bytes_ = max_bytes;
  trim();
}

void Cache::clear() {
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

bool prepare_upstream_answer(const ldns_pkt* reply, const Options& options, Response& out,
                             uint32_t& ttl, bool& cacheable) {
  const uint8_t rcode = ldns_pkt_get_rcode(reply);
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_ra(p.get(), true);
  ldns_pkt_set_ad(p.get(), ldns_pkt_ad(reply));
  ldns_pkt_set_rcode(p.get(), rcode);
  const ldns_pkt_section sections[] = {LDNS_SECTION_QUESTION, LDNS_SECTION_ANSWER,
                                       LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL};
  for (ldns_pkt_section s : sections) {
    const ldns_rr_list* list = s == LDNS_SECTION_QUESTION     ? ldns_pkt_question(reply)
                               : s == LDNS_SECTION_ANSWER     ? ldns_pkt_answer(reply)
                               : s == LDNS_SECTION_AUTHORITY  ? ldns_pkt_authority(reply)
                                                              : ldns_pkt_additional(reply);
    for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(list, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT) continue;
      ldns_pkt_push_rr(p.get(), s, ldns_rr_clone(rr));
    }
  }

  const uint32_t min_ttl = static_cast<uint32_t>(options.min_ttl.count());
  const uint32_t max_ttl = static_cast<uint32_t>(std::max(options.max_ttl.count(), options.min_ttl.count()));
  const bool negative = rcode == LDNS_RCODE_NXDOMAIN || ldns_pkt_ancount(p.get()) == 0;
  uint32_t smallest = std::numeric_limits<uint32_t>::max();
  uint32_t negative_ttl = 0;
  bool have_soa = false;
  if (negative) {
    const ldns_rr_list* auth = ldns_pkt_authority(p.get());
    for (size_t i = 0; i < ldns_rr_list_rr_count(auth); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(auth, i);
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7) continue;
      negative_ttl = std::min(ldns_rr_ttl(rr), ldns_rdf2native_int32(ldns_rr_rdf(rr, 6)));
      negative_ttl = std::min<uint32_t>(negative_ttl, static_cast<uint32_t>(options.negative_ttl.count()));
      have_soa = true;
      break;
    }
  }
  auto clamp_section = [&](const ldns_rr_list* list, bool negative_part) {
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(list, i);
      uint32_t t = ldns_rr_ttl(rr);
      if (negative_part && have_soa) {
        t = std::min(t, negative_ttl);
      } else {
        t = std::clamp(t, min_ttl, max_ttl);
      }
      ldns_rr_set_ttl(rr, t);
      smallest = std::min(smallest, t);
    }
  };
  clamp_section(ldns_pkt_answer(p.get()), false);
  clamp_section(ldns_pkt_authority(p.get()), negative);
  clamp_section(ldns_pkt_additional(p.get()), false);
  if (negative && have_soa) smallest = std::min(smallest, negative_ttl);
  if (smallest == std::numeric_limits<uint32_t>::max()) smallest = 0;

  ttl = smallest;
  cacheable = ttl > 0 && (!negative || have_soa);
  return response_from_pkt(p.get(), out);
}

}  // namespace portico::dnscache
