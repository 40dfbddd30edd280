#pragma once
// Injected randomness for the dnscache Engine (query IDs, upstream exploration).
// The caller owns the Random and must keep it alive as long as the Engine; same
// thread as the Engine. Production glue should pass a CSPRNG-backed implementation
// (query IDs defend against spoofing); tests pass a seeded SeededRandom.

#include <cstdint>

namespace portico::dnscache {

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next_u64() = 0;
  // Uniform value in [0, bound) (bound > 0), without modulo bias worth noting.
  uint32_t uniform(uint32_t bound) {
    return static_cast<uint32_t>((static_cast<unsigned __int128>(next_u64() >> 32) * bound) >> 32);
  }
};

// Deterministic xoshiro256** seeded with splitmix64. Not cryptographic.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  uint64_t next_u64() override;

 private:
  uint64_t s_[4];
};

}  // namespace portico::dnscache
