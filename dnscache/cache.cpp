#include "dnscache/cache.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

namespace portico::dnscache {

size_t Cache::cost(const CacheEntry& e) {
  return sizeof(CacheEntry) + 2 * sizeof(Slot) + e.key.name.size() + e.response.wire.size() +
         e.response.ttl_offsets.size() * sizeof(uint16_t);
}

size_t Cache::hash_of(const QuestionKey& key) {
  size_t h = std::hash<std::string_view>{}(key.name);
  h ^= (static_cast<size_t>(key.type) << 24 | static_cast<size_t>(key.klass) << 8 | key.flags) *
       0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);  // the slot is taken from the low bits
}

bool Cache::matches(const CacheEntry& e, const QuestionKey& key) {
  const Response& r = e.response;
  return e.key.type == key.type && e.key.klass == key.klass && e.key.flags == key.flags &&
         r.qname_len == key.name.size() &&
         std::memcmp(r.wire.data() + LDNS_HEADER_SIZE, key.name.data(), key.name.size()) == 0;
}

size_t Cache::slot_of(const QuestionKey& key, size_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.used || (s.hash == hash && matches(*s.entry, key))) return i;
  }
}

void Cache::index_add(List::iterator e) {
  if ((count_ + 1) * 2 > slots_.size()) {
    // Grow (allocation on inserts only, which come from upstream replies).
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(std::max<size_t>(64, old.size() * 2), Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (!s.used) continue;
      size_t i = s.hash & mask;
      while (slots_[i].used) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  const size_t mask = slots_.size() - 1;
  size_t i = e->hash & mask;
  while (slots_[i].used) i = (i + 1) & mask;
  slots_[i] = Slot{e->hash, e, true};
  ++count_;
}

void Cache::index_remove(const CacheEntry& e) {
  const size_t mask = slots_.size() - 1;
  size_t i = e.hash & mask;
  while (!(slots_[i].used && &*slots_[i].entry == &e)) i = (i + 1) & mask;
  // Backward-shift deletion: pull later members of the probe run into the hole.
  for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
    const size_t home = slots_[j].hash & mask;
    // Movable unless its home lies cyclically in (i, j].
    if (((j - home) & mask) >= ((j - i) & mask)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --count_;
}

CacheEntry* Cache::find(const QuestionKey& key, Time now, Time stale_window) {
  if (count_ == 0) return nullptr;
  const Slot& s = slots_[slot_of(key, hash_of(key))];
  if (!s.used) return nullptr;
  List::iterator e = s.entry;
  const bool too_old = e->expires + stale_window <= now || (stale_window == Time::zero() && e->expires <= now);
  if (too_old) {
    erase(e);
    return nullptr;
  }
  if (moves_ - e->lru_stamp >= count_ / 4) {
    lru_.splice(lru_.begin(), lru_, e);
    e->lru_stamp = ++moves_;
  }
  return &*e;
}

void Cache::insert(const QuestionKey& key, Response&& response, uint32_t ttl, Time now) {
  // The index compares names in the response's question: it must be key's name
  // (the upstream reply was checked to match it, up to case).
  if (response.qname_len != key.name.size() || response.wire.size() < LDNS_HEADER_SIZE + key.name.size() ||
      !std::equal(key.name.begin(), key.name.end(), response.wire.begin() + LDNS_HEADER_SIZE,
                  [](char k, uint8_t w) { return static_cast<uint8_t>(k) == ascii_lower(w); })) {
    return;
  }
  std::memcpy(response.wire.data() + LDNS_HEADER_SIZE, key.name.data(), key.name.size());
  const size_t hash = hash_of(key);
  if (count_ > 0) {
    const Slot& s = slots_[slot_of(key, hash)];
    if (s.used) erase(s.entry);
  }
  lru_.emplace_front();
  CacheEntry& e = lru_.front();
  e.key = key;
  e.hash = hash;
  e.response = std::move(response);
  e.stored = now;
  e.ttl = ttl;
  e.expires = now + std::chrono::seconds(ttl);
  e.lru_stamp = ++moves_;
  index_add(lru_.begin());
  bytes_ += cost(e);
  trim();
}

void Cache::erase(List::iterator it) {
  bytes_ -= cost(*it);
  index_remove(*it);
  lru_.erase(it);
}

void Cache::trim() {
  while (!lru_.empty() && (count_ > max_entries_ || bytes_ > max_bytes_)) {
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
  slots_.clear();
  lru_.clear();
  count_ = 0;
  bytes_ = 0;
}

namespace {
// RFC 2181 8: a TTL with the most significant bit set is read as zero (RFC
// 1035 said signed; some software still sends "negative" TTLs).
uint32_t wire_ttl(uint32_t t) { return t > 0x7fffffffu ? 0 : t; }
}  // namespace

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
      negative_ttl = std::min(wire_ttl(ldns_rr_ttl(rr)), wire_ttl(ldns_rdf2native_int32(ldns_rr_rdf(rr, 6))));
      negative_ttl = std::min<uint32_t>(negative_ttl, static_cast<uint32_t>(options.negative_ttl.count()));
      have_soa = true;
      break;
    }
  }
  auto clamp_section = [&](const ldns_rr_list* list, bool negative_part) {
    for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(list, i);
      uint32_t t = wire_ttl(ldns_rr_ttl(rr));
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
