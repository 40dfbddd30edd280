#pragma once
// The dnscache answer cache: whole responses keyed by QuestionKey, LRU-ordered and
// bounded by entry count and bytes, kept past expiry for the serve-stale window.
// Owned by the Engine; used on its thread only.

#include <list>
#include <vector>

#include "dnscache/message.hpp"
#include "dnscache/options.hpp"
#include "dnscache/types.hpp"

namespace portico::dnscache {

struct CacheEntry {
  QuestionKey key;
  Response response;            // its question name is key.name (lower case)
  size_t hash = 0;              // Cache::hash_of(key)
  Time stored{};
  Time expires{};
  uint32_t ttl = 0;             // seconds, the smallest TTL in the response
  uint32_t hits = 0;            // fresh hits since stored
  uint64_t lru_stamp = 0;       // Cache's move counter when last moved to the LRU front
  Time refresh_failed_at = Time::min();  // last failed refresh of a stale entry
};

// Entries live in an LRU list; the index is an open-addressing table (linear
// probing, at most half full) of {hash, entry}, so a lookup reads one slot and
// the entry's own memory: no chains of nodes, no key hashed again. A hit
// compares type, class and DO/CD in the entry and the name against the
// response's question, which the copy to the client reads anyway. A hit moves
// its entry to the LRU front unless it is among the most recently moved quarter
// already (memcached's "bump at most once per interval" idea): eviction order
// stays LRU at that grain, and popular entries cost no list writes.
class Cache {
 public:
  Cache(size_t max_entries, size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}

  // The entry for `key`, moved to the LRU front; nullptr if absent. Entries expired
  // longer than `stale_window` ago are erased and reported absent.
  CacheEntry* find(const QuestionKey& key, Time now, Time stale_window);

  // Stores (or replaces) the entry for `key`; evicts least-recently-used entries
  // beyond the bounds. A response whose question is not key's is not stored.
  void insert(const QuestionKey& key, Response&& response, uint32_t ttl, Time now);

  void set_limits(size_t max_entries, size_t max_bytes);
  void clear();
  size_t size() const { return count_; }
  size_t bytes() const { return bytes_; }
  uint64_t evictions() const { return evictions_; }

  static size_t hash_of(const QuestionKey& key);

 private:
  using List = std::list<CacheEntry>;
  struct Slot {
    size_t hash = 0;
    List::iterator entry;
    bool used = false;
  };
  static size_t cost(const CacheEntry& e);
  static bool matches(const CacheEntry& e, const QuestionKey& key);
  size_t slot_of(const QuestionKey& key, size_t hash) const;  // its slot, or an empty one
  void index_add(List::iterator e);
  void index_remove(const CacheEntry& e);
  void erase(List::iterator it);
  void trim();

  size_t max_entries_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  size_t count_ = 0;
  uint64_t evictions_ = 0;
  uint64_t moves_ = 0;
  List lru_;                 // front = most recently used
  std::vector<Slot> slots_;  // power-of-two size; empty until the first insert
};

// Turns a validated upstream reply (NOERROR or NXDOMAIN) into the response to
// store and send: RR TTLs clamped to [min_ttl, max_ttl]; for NXDOMAIN/NODATA the
// negative TTL is min(SOA TTL, SOA MINIMUM, negative_ttl) (RFC 2308). EDNS data of
// the upstream is dropped. `cacheable` is false for TTL 0 and for negative answers
// without SOA. Returns false if the reply cannot be rendered.
bool prepare_upstream_answer(const ldns_pkt* reply, const Options& options, Response& out,
                             uint32_t& ttl, bool& cacheable);

}  // namespace portico::dnscache
