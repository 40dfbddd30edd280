#include "proxy/upstream/hash_tables.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "proxy/upstream/hash.hpp"

namespace portico::upstream {

HashRing::HashRing(const EndpointSet& set, const std::vector<uint32_t>& members,
                   uint32_t vnodes_per_weight, uint32_t max_points) {
  if (members.empty()) return;
  vnodes_per_weight = std::max<uint32_t>(vnodes_per_weight, 1);
  max_points = std::max<uint32_t>(max_points, static_cast<uint32_t>(members.size()));
  uint64_t wanted = 0;
  for (uint32_t i : members) wanted += uint64_t{set[i].weight} * vnodes_per_weight;
  const double scale = wanted > max_points ? double(max_points) / double(wanted) : 1.0;
  struct Point {
    uint64_t hash;
    uint32_t endpoint;
  };
  std::vector<Point> pts;
  pts.reserve(std::min<uint64_t>(wanted, max_points) + members.size());
  for (uint32_t i : members) {
    const std::string& key = set.key(i);
    double want = double(set[i].weight) * vnodes_per_weight * scale;
    uint64_t n = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(want)));
    // point v of an endpoint: hash(address) stepped and mixed, so points depend
    // only on the endpoint's identity
    uint64_t base = hash_string(key);
    for (uint64_t v = 0; v < n; ++v) pts.push_back({mix64(base + v * 0x9e3779b97f4a7c15ULL), i});
  }
  std::sort(pts.begin(), pts.end(), [&](const Point& a, const Point& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return set.key(a.endpoint) < set.key(b.endpoint);  // collisions: order by identity
  });
  hashes_.reserve(pts.size());
  endpoints_.reserve(pts.size());
  for (const auto& p : pts) {
    hashes_.push_back(p.hash);
    endpoints_.push_back(p.endpoint);
  }
}

size_t HashRing::position(uint64_t key) const {
  auto it = std::lower_bound(hashes_.begin(), hashes_.end(), key);
  return it == hashes_.end() ? 0 : static_cast<size_t>(it - hashes_.begin());
}

bool MaglevTable::is_prime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

uint64_t MaglevTable::next_prime(uint64_t n) {
  while (!is_prime(n)) ++n;
  return n;
}

MaglevTable::MaglevTable(const EndpointSet& set, const std::vector<uint32_t>& members,
                         uint32_t table_size) {
  if (members.empty()) return;
  uint64_t m = std::max<uint64_t>({table_size, 10 * uint64_t{members.size()}, 7});
  m = next_prime(m);
  const size_t n = members.size();
  std::vector<uint64_t> offset(n), skip(n), next(n, 0);
  std::vector<uint64_t> credit(n, 0);
  uint32_t max_w = 1;
  for (size_t k = 0; k < n; ++k) {
    const std::string& key = set.key(members[k]);
    offset[k] = hash_string(key, 0x6d61676c65763031ULL) % m;
    skip[k] = hash_string(key, 0x6d61676c65763032ULL) % (m - 1) + 1;
    max_w = std::max(max_w, set[members[k]].weight);
  }
  // Members in key order so the table does not depend on the set's order.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return set.key(members[a]) < set.key(members[b]); });
  constexpr uint32_t kEmpty = UINT32_MAX;
  table_.assign(m, kEmpty);
  uint64_t filled = 0;
  while (filled < m) {
    for (size_t k : order) {
      credit[k] += set[members[k]].weight;
      if (credit[k] < max_w) continue;
      credit[k] -= max_w;
      uint64_t c;
      do {
        c = (offset[k] + next[k] * skip[k]) % m;
        ++next[k];
      } while (table_[c] != kEmpty);
      table_[c] = members[k];
      if (++filled == m) break;
    }
  }
}

}  // namespace portico::upstream
