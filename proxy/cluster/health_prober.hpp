#pragma once
// HealthProber: the I/O side of one cluster's active health checks, on the
// worker that owns them (cluster index % workers). It drives the sans-I/O
// upstream::HealthChecker: opens each check's socket on this worker's loop
// (tcp: connect; http: connect, send the request, read the status line with
// http::ResponseParser) and feeds results back; the checker publishes up/down
// to the cluster's HealthTable, which every worker's balancer reads. When the
// cluster's endpoint set changes (discovery), it rebuilds the checker on the
// new set (the table carried health over). Worker thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/io/loop.hpp"
#include "proxy/upstream/cluster.hpp"
#include "proxy/upstream/health_check.hpp"
#include "proxy/upstream/random.hpp"

namespace portico::cluster {

class HealthProber final : private io::TimerHandler {
 public:
  HealthProber(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster, uint64_t seed);
  ~HealthProber();
  HealthProber(const HealthProber&) = delete;
  HealthProber& operator=(const HealthProber&) = delete;

  void start();
  // Aborts the checks in flight; stopped() once their last completions came.
  void stop();
  bool stopped() const { return stopping_ && probes_.empty() && dying_.empty(); }
  const upstream::SharedCluster& cluster() const { return *cluster_; }

 private:
  class Probe;
  friend class Probe;
  void on_timer(io::Timer& t) override;
  void rebuild(TimeNs now);
  void run(TimeNs now);
  void start_probe(uint32_t endpoint, uint64_t id);
  void probe_done(Probe* p, bool ok, int status, const char* reason);
  void probe_freed(Probe* p);
  void kill(Probe* p);  // cancel a check without a result
  void kill_all();
  void note(uint32_t endpoint);

  io::Loop* loop_;
  std::shared_ptr<upstream::SharedCluster> cluster_;
  upstream::SeededRandom rng_;
  std::shared_ptr<const upstream::ClusterSnapshot> snap_;
  uint64_t version_ = 0;
  std::unique_ptr<upstream::HealthChecker> checker_;
  std::unordered_map<uint64_t, Probe*> probes_;  // live checks by id; bounded by max_in_flight
  std::unordered_set<Probe*> dying_;             // cancelled, waiting for their completions
  std::vector<upstream::CheckAction> actions_;
  std::vector<uint8_t> healthy_;  // per endpoint, as last logged
  std::string request_;  // scratch: an http check's request bytes
  io::Timer timer_;
  bool stopping_ = false;
};

}  // namespace portico::cluster
