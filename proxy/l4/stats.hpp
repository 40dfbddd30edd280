#pragma once
// Per-worker metrics: counters written only by their worker (a relaxed load
// and store, no locked instruction, no shared cache line) and read relaxed by
// the admin endpoint, which sums the workers. A WorkerStats is owned by the
// Server (it outlives the worker); slots are created on config apply and never
// freed, so the pointers sessions hold stay valid across reloads.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "proxy/tls/status.hpp"

namespace portico::l4 {

// Single-writer counter (or gauge: add/sub from the same worker).
class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Upper bounds of the request latency histogram, in microseconds (+Inf implied).
inline constexpr std::array<uint64_t, 12> kLatencyBucketsUs = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

// Server-side TLS handshakes of one listener on one worker (TLS listeners only).
struct TlsListenerStats {
  std::array<Counter, 4> handshakes;  // completed: [2 * (TLS 1.3) + resumed]
  std::array<Counter, tls::kHandshakeFailureCount> failures;  // by tls::HandshakeFailure

  static size_t handshake_index(bool tls13, bool resumed) { return (tls13 ? 2u : 0u) + (resumed ? 1u : 0u); }
  void completed(bool tls13, bool resumed) { handshakes[handshake_index(tls13, resumed)].add(); }
  void failed(tls::HandshakeFailure why) { failures[static_cast<size_t>(why)].add(); }
};

struct alignas(64) ListenerStats {
  Counter accepted;   // connections handed to the protocol (after the connection limit)
  Counter refused;    // closed at accept: max_connections reached
  Counter active;     // gauge
  Counter bytes_in;   // from clients
  Counter bytes_out;  // to clients
  Counter proxy_rejected;  // PROXY protocol: untrusted source or malformed header
  Counter spliced;         // tcp: directions that switched to splice(2)
  TlsListenerStats tls;
};

struct alignas(64) RouteStats {
  std::array<Counter, 5> by_class;  // 1xx..5xx
  std::array<Counter, kLatencyBucketsUs.size() + 1> latency;  // per bucket (not cumulative), last = +Inf
  Counter latency_sum_us;
  Counter requests;

  void record(int status, uint64_t us) {
    requests.add();
    if (status >= 100 && status < 600) by_class[static_cast<size_t>(status / 100 - 1)].add();
    size_t i = 0;
    while (i < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[i]) ++i;
    latency[i].add();
    latency_sum_us.add(us);
  }
};

struct alignas(64) EndpointStats {
  Counter requests;          // HTTP requests sent / TCP sessions opened
  Counter connect_failures;  // refused, reset, timed out before connected
  Counter tls_failures;      // upstream TLS handshakes that failed (also a connect failure)
  Counter active;            // gauge: sessions / exchanges using it now
};

// Mirror of the DNS module's counters, copied by the worker every second.
struct alignas(64) DnsStats {
  Counter queries, cache_hits, cache_misses, stale_answers, local_answers, servfail, refused,
      upstream_timeouts, cache_entries;
};

class WorkerStats {
 public:
  // ---- worker thread (on config apply) ----
  ListenerStats* listener(const std::string& name);
  RouteStats* route(const std::string& listener, const std::string& route);
  EndpointStats* endpoint(const std::string& cluster, const std::string& address);
  DnsStats& dns() { return dns_; }

  // ---- any thread: visits every slot under the registry lock ----
  void each_listener(const std::function<void(const std::string&, const ListenerStats&)>& f) const;
  void each_route(const std::function<void(const std::string&, const std::string&, const RouteStats&)>& f) const;
  void each_endpoint(
      const std::function<void(const std::string&, const std::string&, const EndpointStats&)>& f) const;
  const DnsStats& dns() const { return dns_; }

  // Shared throw-away slots for code run without a registry (unit tests).
  static ListenerStats* listener_sink();
  static RouteStats* route_sink();
  static EndpointStats* endpoint_sink();

 private:
  mutable std::mutex mu_;  // guards the maps' structure, never the counters
  std::map<std::string, std::unique_ptr<ListenerStats>> listeners_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<RouteStats>> routes_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<EndpointStats>> endpoints_;
  DnsStats dns_;
};

}  // namespace portico::l4
