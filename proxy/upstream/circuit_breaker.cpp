#include "proxy/upstream/circuit_breaker.hpp"

namespace portico::upstream {

CircuitBreakers::CircuitBreakers(size_t endpoints, uint32_t max_connections, uint32_t max_pending)
    : n_(endpoints),
      max_connections_(max_connections),
      max_pending_(max_pending),
      conns_(new std::atomic<uint32_t>[endpoints]),
      pending_(new std::atomic<uint32_t>[endpoints]) {
  for (size_t i = 0; i < n_; ++i) {
    conns_[i].store(0, std::memory_order_relaxed);
    pending_[i].store(0, std::memory_order_relaxed);
  }
}

bool CircuitBreakers::try_acquire(size_t i, std::unique_ptr<std::atomic<uint32_t>[]>& v,
                                  uint32_t max) {
  if (i >= n_) return false;
  uint32_t cur = v[i].load(std::memory_order_relaxed);
  do {
    if ((max != 0 && cur >= max) || cur == UINT32_MAX) {
      overflows_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!v[i].compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                       std::memory_order_relaxed));
  return true;
}

void CircuitBreakers::release(size_t i, std::unique_ptr<std::atomic<uint32_t>[]>& v) {
  if (i >= n_) return;
  uint32_t cur = v[i].load(std::memory_order_relaxed);
  // never below zero, even on an unmatched release
  while (cur > 0 && !v[i].compare_exchange_weak(cur, cur - 1, std::memory_order_acq_rel,
                                                std::memory_order_relaxed)) {
  }
}

}  // namespace portico::upstream
