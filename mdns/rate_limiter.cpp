#include "mdns/rate_limiter.hpp"

#include <algorithm>

namespace portico::mdns {

size_t RateLimiter::Hash::operator()(const IpAddress& a) const {
  uint64_t h = 1469598103934665603ULL ^ a.family;
  for (size_t i = 0; i < a.size(); ++i) h = (h ^ a.bytes[i]) * 1099511628211ULL;
  return size_t(h);
}

bool RateLimiter::allow(const IpAddress& src, Time now) {
  auto it = buckets_.find(src);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      // Forget the source seen longest ago (linear scan, bounded by max_sources_).
      auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                     [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
      buckets_.erase(oldest);
    }
    it = buckets_.emplace(src, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  if (now > b.last) {
    double secs = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + secs * per_second_);
    b.last = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace portico::mdns
