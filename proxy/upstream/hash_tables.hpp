#pragma once
// Consistent-hash lookup structures, immutable once built and shared by every
// worker's balancer through LbPlan: a ketama-style HashRing and a MaglevTable.
// Both place endpoints by EndpointSet::key() (the address), so removing one
// endpoint moves only (ring: exactly; maglev: almost only) that endpoint's keys.

#include <cstdint>
#include <vector>

#include "proxy/upstream/endpoint_set.hpp"

namespace portico::upstream {

class HashRing {
 public:
  // Ring over `members` (endpoint indices of `set`): weight x vnodes_per_weight
  // points each, scaled down to at most max_points (at least one per member).
  HashRing(const EndpointSet& set, const std::vector<uint32_t>& members, uint32_t vnodes_per_weight,
           uint32_t max_points);
  size_t points() const { return hashes_.size(); }
  bool empty() const { return hashes_.empty(); }
  // Position of the first point at or after `key` (wrapping).
  size_t position(uint64_t key) const;
  size_t next(size_t pos) const { return pos + 1 == hashes_.size() ? 0 : pos + 1; }
  uint32_t endpoint_at(size_t pos) const { return endpoints_[pos]; }

 private:
  std::vector<uint64_t> hashes_;    // sorted
  std::vector<uint32_t> endpoints_;  // parallel to hashes_
};

class MaglevTable {
 public:
  // Maglev (Eisenbud et al., NSDI 2016) with weights: each round every member
  // earns weight/max_weight credit and claims its next preferred slot per whole
  // credit. `table_size` is raised to a prime >= max(table_size, 10 x members).
  MaglevTable(const EndpointSet& set, const std::vector<uint32_t>& members, uint32_t table_size);
  size_t size() const { return table_.size(); }
  bool empty() const { return table_.empty(); }
  uint32_t lookup(uint64_t key) const { return table_[key % table_.size()]; }

  static bool is_prime(uint64_t n);
  static uint64_t next_prime(uint64_t n);

 private:
  std::vector<uint32_t> table_;  // endpoint indices
};

}  // namespace portico::upstream
