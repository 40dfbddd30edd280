#pragma once
// Monotonic time as nanoseconds since an arbitrary epoch. Loops cache "now"
// once per turn; code on a worker reads the loop's cached value.

#include <time.h>

#include <cstdint>

namespace portico {

using TimeNs = int64_t;
constexpr TimeNs kNsPerMs = 1'000'000;
constexpr TimeNs kNsPerSec = 1'000'000'000;

inline TimeNs monotonic_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<TimeNs>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

}  // namespace portico
