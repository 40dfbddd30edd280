#pragma once
// Injected randomness for the upstream components (P2C and random picks, health
// check jitter). `Random` is the interface a caller hands to a HealthChecker;
// `SeededRandom` is the deterministic xoshiro256** generator every balancer owns
// by value (seeded by its creator: tests fix the seed, workers pass distinct ones).
// Not cryptographic. Single-threaded: each owner uses its own instance.

#include <cstdint>

namespace portico::upstream {

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next_u64() = 0;
  // Uniform value in [0, bound) for bound > 0 (multiply-shift, bias < 2^-32).
  uint32_t uniform(uint32_t bound) {
    return static_cast<uint32_t>(((next_u64() >> 32) * static_cast<uint64_t>(bound)) >> 32);
  }
};

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
  }
  uint64_t next_u64() override { return next(); }
  // Non-virtual fast path for owners that hold the concrete type.
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  uint32_t below(uint32_t bound) {
    return static_cast<uint32_t>(((next() >> 32) * static_cast<uint64_t>(bound)) >> 32);
  }
  uint64_t below64(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }

  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace portico::upstream
