#pragma once
// Injected randomness for the mDNS engine (probe delays, response delays, refresh jitter).
// Owned by the glue or the test; the Engine keeps a reference; single-threaded use.

#include <cstdint>

namespace portico::mdns {

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next_u64() = 0;
  // Uniform in [lo, hi] (inclusive); lo when hi <= lo.
  uint64_t uniform(uint64_t lo, uint64_t hi) {
    if (hi <= lo) return lo;
    return lo + next_u64() % (hi - lo + 1);
  }
};

// splitmix64: deterministic for a given seed; the glue seeds it from the OS once.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() override {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace portico::mdns
