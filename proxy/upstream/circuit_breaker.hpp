#pragma once
// CircuitBreakers: per-endpoint limits on open connections and on requests
// waiting for a connection (pending), shared by all workers of a cluster
// (one std::shared_ptr per EndpointSet). Lock-free counters: try_* increments
// only below the limit and the caller must release what it acquired. A limit
// of 0 means unlimited (the counter is still kept for the admin endpoint).

#include <atomic>
#include <cstdint>
#include <memory>

#include "conf/config.hpp"

namespace portico::upstream {

class CircuitBreakers {
 public:
  CircuitBreakers(size_t endpoints, uint32_t max_connections, uint32_t max_pending);
  static std::shared_ptr<CircuitBreakers> for_cluster(const conf::Cluster& c, size_t endpoints) {
    return std::make_shared<CircuitBreakers>(endpoints, c.max_connections, c.max_pending);
  }

  // A new connection to endpoint i may be opened (counted); false = over limit.
  bool try_open_connection(size_t i) { return try_acquire(i, conns_, max_connections_); }
  void connection_closed(size_t i) { release(i, conns_); }
  // A request may wait for a connection to endpoint i (counted).
  bool try_add_pending(size_t i) { return try_acquire(i, pending_, max_pending_); }
  void pending_done(size_t i) { release(i, pending_); }

  uint32_t connections(size_t i) const { return load(i, conns_); }
  uint32_t pending(size_t i) const { return load(i, pending_); }
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }
  uint32_t max_connections() const { return max_connections_; }
  uint32_t max_pending() const { return max_pending_; }
  size_t size() const { return n_; }

 private:
  bool try_acquire(size_t i, std::unique_ptr<std::atomic<uint32_t>[]>& v, uint32_t max);
  void release(size_t i, std::unique_ptr<std::atomic<uint32_t>[]>& v);
  uint32_t load(size_t i, const std::unique_ptr<std::atomic<uint32_t>[]>& v) const {
    return i < n_ ? v[i].load(std::memory_order_relaxed) : 0;
  }
  size_t n_;
  uint32_t max_connections_;
  uint32_t max_pending_;
  std::unique_ptr<std::atomic<uint32_t>[]> conns_;
  std::unique_ptr<std::atomic<uint32_t>[]> pending_;
  std::atomic<uint64_t> overflows_{0};
};

}  // namespace portico::upstream
