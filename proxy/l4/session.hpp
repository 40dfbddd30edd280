#pragma once
// What every proxied session on a worker shares: the worker's environment
// (loop, live-session list for drain), the config generation it started on,
// and per-listener state shared across workers (atomics only).

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/l4/stats.hpp"
#include "proxy/tls/tls_set.hpp"
#include "proxy/upstream/cluster.hpp"

namespace portico::l4 {

// A config snapshot as one worker sees it. Sessions pin the generation they
// started on (a worker-local count: no shared atomic per connection); the
// worker frees old generations once nothing pins them.
// Each cluster of the generation has this worker's WorkerCluster (balancer,
// outlier detector) over the SharedCluster every worker of the generation uses.
struct ListenerShared;

struct Generation {
  std::shared_ptr<const conf::Config> config;
  uint32_t refs = 0;
  std::vector<std::unique_ptr<upstream::WorkerCluster>> clusters;  // aligned with config->clusters
  // The listeners' cross-worker state, aligned with config->listeners. Held
  // here because sessions pin their generation: a listener removed by a
  // reload is freed by the main thread, while its sessions may still end
  // (and count themselves out) on this worker.
  std::vector<std::shared_ptr<ListenerShared>> listener_shared;

  // `shared` is aligned with config->clusters; missing entries are built here
  // (then private to this worker: tests, or a cluster that failed to build).
  Generation(std::shared_ptr<const conf::Config> c,
             const std::vector<std::shared_ptr<upstream::SharedCluster>>& shared, uint32_t worker_id);
  explicit Generation(std::shared_ptr<const conf::Config> c) : Generation(std::move(c), {}, 0) {}
  // This worker's runtime of `cluster` (a cluster of this generation's config).
  upstream::WorkerCluster* cluster(const conf::Cluster& cluster) {
    size_t idx = static_cast<size_t>(&cluster - config->clusters.data());
    return idx < clusters.size() ? clusters[idx].get() : nullptr;
  }

  // TLS of this generation on this worker (empty without tls anywhere):
  // aligned with config->listeners / config->clusters, null where off.
  // Connections pin the generation, so a server context outlives its
  // connections; client contexts are shared with pooled upstream connections,
  // which may outlive the generation.
  std::shared_ptr<const tls::TlsSet> tls;
  std::vector<std::unique_ptr<tls::ServerContext>> server_tls;
  std::vector<std::shared_ptr<tls::ClientContext>> client_tls;


  // Metrics slots per cluster, per endpoint (filled by attach_stats; sinks otherwise).
  std::vector<std::vector<EndpointStats*>> endpoint_stats_;
  WorkerStats* stats_ = nullptr;
  void attach_stats(WorkerStats& s);
  // The slot of endpoint `index` (of the cluster's current set) at `address`:
  // the static endpoint's when it is that one, else looked up by address.
  EndpointStats* endpoint_stats(const conf::Cluster& cluster, uint32_t index, const conf::Address& address) const;
  // Builds this worker's contexts from the main thread's TlsSet. False (with
  // *error) only if BoringSSL could not make a context.
  bool build_tls(std::shared_ptr<const tls::TlsSet> set, std::string* error);
  tls::ServerContext* server_context(const conf::Listener& l) const;
  const std::shared_ptr<tls::ClientContext>& client_context(const conf::Cluster& c) const;
};

// Shared by every worker for one listener (same name and address across
// reloads). Touched once per connection, never per byte.
struct ListenerShared {
  std::atomic<uint32_t> active{0};
};

class Session {
 public:
  virtual ~Session() = default;
  // Ends the session now (drain deadline passed, listener removed).
  virtual void abort() = 0;
  // The worker drains: finish what is in progress, take no new work (HTTP:
  // Connection: close on the next response, close once idle). Default: nothing
  // (a relayed TCP stream ends when its peers end it).
  virtual void drain() {}

 private:
  friend struct WorkerEnv;
  Session* prev_ = nullptr;
  Session* next_ = nullptr;
};

// Per-worker services and bookkeeping for sessions. Lives as long as the worker.
struct WorkerEnv {
  io::Loop* loop = nullptr;
  uint32_t worker_id = 0;
  size_t sessions = 0;
  WorkerStats* stats = nullptr;  // this worker's metrics (null in unit tests)
  bool draining = false;  // drain_all() was called: sessions started now drain too
  bool aborted = false;   // abort_all() was called

  void add(Session* s) {
    s->next_ = head_;
    s->prev_ = nullptr;
    if (head_) head_->prev_ = s;
    head_ = s;
    ++sessions;
  }
  void remove(Session* s) {
    if (s->prev_) s->prev_->next_ = s->next_; else head_ = s->next_;
    if (s->next_) s->next_->prev_ = s->prev_;
    s->prev_ = s->next_ = nullptr;
    --sessions;
  }
  void drain_all() {
    draining = true;
    // drain() may unlink (and free) the session: walk with a saved next.
    for (Session* s = head_; s;) {
      Session* n = s->next_;
      s->drain();
      s = n;
    }
  }
  void abort_all() {
    aborted = true;
    // abort() may unlink (and free) the session: walk with a saved next.
    for (Session* s = head_; s;) {
      Session* n = s->next_;
      s->abort();
      s = n;
    }
  }

 private:
  Session* head_ = nullptr;
};

}  // namespace portico::l4
