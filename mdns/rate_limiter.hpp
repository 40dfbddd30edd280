#pragma once
// Per-source token buckets against query/response floods, with a bounded number of tracked
// sources (the least recently seen is forgotten when full). Owned by the Engine.

#include <cstddef>
#include <unordered_map>

#include "mdns/types.hpp"

namespace portico::mdns {

class RateLimiter {
 public:
  RateLimiter(size_t max_sources, double per_second, double burst)
      : max_sources_(max_sources), per_second_(per_second), burst_(burst) {}
  // Takes one token for `src`; false when its bucket is empty.
  bool allow(const IpAddress& src, Time now);
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Time last;
  };
  struct Hash {
    size_t operator()(const IpAddress& a) const;
  };
  size_t max_sources_;
  double per_second_, burst_;
  std::unordered_map<IpAddress, Bucket, Hash> buckets_;
};

}  // namespace portico::mdns
