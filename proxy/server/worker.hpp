#pragma once
// A worker: one thread, pinned to one CPU, owning one event loop and
// everything that runs on it (listeners' accept operations, sessions,
// timers, buffers). The main thread talks to it only through post(), which
// queues a message and wakes the loop through an eventfd.

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conf/config.hpp"
#include "proxy/cluster/dns_discovery.hpp"
#include "proxy/cluster/health_prober.hpp"
#include "proxy/cluster/mdns_discovery.hpp"
#include "proxy/http/connection.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/l4/session.hpp"
#include "proxy/modules/dns_module.hpp"
#include "proxy/modules/mdns_module.hpp"
#include "proxy/modules/mdns_table.hpp"
#include "proxy/server/admin.hpp"

namespace portico::server {

class WorkerListener;

// The listener sockets a config generation hands to one worker.
struct WorkerConfig {
  std::shared_ptr<const conf::Config> config;
  struct Listener {
    int fd = -1;  // this worker's SO_REUSEPORT socket; the worker closes it when done
    std::shared_ptr<l4::ListenerShared> shared;
    // More sockets of the same listener this worker serves: inherited from an
    // old process that had more workers (see Server::Bound::extra).
    std::vector<int> extra_fds;
  };
  std::vector<Listener> listeners;  // aligned with config->listeners
  modules::DnsWorkerConfig dns;     // the built-in DNS server (options null: off)
  // mDNS browse results (same object for every generation; written by worker 0's module).
  std::shared_ptr<modules::MdnsTable> mdns_table;
  std::shared_ptr<AdminShared> admin;  // every worker (drain bookkeeping)
  int admin_fd = -1;                   // worker 0, first config: the admin listening socket
  // TLS settings loaded by the main thread (null: no tls in this config).
  std::shared_ptr<const tls::TlsSet> tls;
  // The clusters' shared runtime (health, endpoints), aligned with config->clusters;
  // the same objects for every worker of this generation.
  std::vector<std::shared_ptr<upstream::SharedCluster>> clusters;
  uint32_t workers = 1;  // how many workers share them (health-check ownership)
  // Where `discovery: { dns | dns_srv }` sends its queries (unset: nowhere).
  std::optional<conf::Address> discovery_nameserver;
};

struct WorkerMessage {
  // kHandover: drain because a new process took over the sockets (upgrade):
  // like kDrain, but the admin endpoint stops accepting at once (the new
  // process answers it) and mDNS stops without goodbyes (the new process
  // announces the same records).
  // kReopenLogs: open the access log files again (SIGUSR1, after a rotation).
  enum class Kind { kConfig, kDrain, kHandover, kForceClose, kReopenLogs } kind;
  WorkerConfig config;  // kConfig
};

class Worker final : private io::OpHandler, private io::TimerHandler {
 public:
  Worker(uint32_t id, int cpu, io::Backend backend, bool allow_fallback, io::LoopOptions opts);
  ~Worker();

  // Starts the thread; the future yields "" once the loop runs, or an error.
  std::future<std::string> start();
  void post(WorkerMessage msg);  // any thread
  void join();
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  uint32_t id() const { return id_; }
  // Waits (bounded) until the worker applied its first config; false on timeout.
  bool wait_configured(std::chrono::milliseconds timeout) const;
  const char* backend_name() const { return backend_name_.load(); }

 private:
  void run(std::promise<std::string> ready);
  void on_complete(io::Op& op, int res) override;  // eventfd wake-ups
  void on_timer(io::Timer& t) override;            // housekeeping
  void handle(WorkerMessage& m);
  void apply(WorkerConfig& wc);
  void drain(bool handover = false);
  void place_listener(const std::string& key, const conf::Listener& l, int fd, l4::ListenerShared* shared,
                      l4::Generation* g, std::map<std::string, std::unique_ptr<WorkerListener>>& next);
  void sweep();
  void mirror_dns_stats();
  void arm_wake();
  void apply_mdns(const WorkerConfig& wc);
  void retire_mdns();
  bool mdns_busy();
  void apply_health_checks(const WorkerConfig& wc);
  void retire_probers();

  uint32_t id_;
  int cpu_;
  io::Backend backend_;
  bool allow_fallback_;
  io::LoopOptions opts_;
  std::thread thread_;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::vector<WorkerMessage> inbox_;  // bounded in practice: main posts one message per signal
  std::atomic<bool> finished_{false};
  std::atomic<uint32_t> configs_applied_{0};
  std::atomic<const char*> backend_name_{"?"};

  // Owned by the worker thread.
  std::unique_ptr<io::Loop> loop_;
  l4::WorkerEnv env_;
  l4::WorkerStats stats_;
  std::unique_ptr<http::HttpWorker> http_;  // created with the first config (access log settings)
  std::unique_ptr<modules::DnsModule> dns_;  // created with the first config that has `dns:`
  io::Op wake_op_;
  uint64_t wake_value_ = 0;
  io::Timer housekeeping_;
  std::map<std::string, std::unique_ptr<WorkerListener>> listeners_;
  std::vector<std::unique_ptr<WorkerListener>> retiring_;
  std::vector<std::unique_ptr<l4::Generation>> generations_;
  // Worker 0 only: the mDNS module, and modules still sending goodbyes before they close.
  std::unique_ptr<modules::MdnsModule> mdns_;
  std::vector<std::unique_ptr<modules::MdnsModule>> mdns_retiring_;
  // Active health checks of the clusters this worker owns (index % workers == id).
  std::vector<std::unique_ptr<cluster::HealthProber>> probers_;
  std::vector<std::unique_ptr<cluster::HealthProber>> probers_retiring_;
  // DNS discovery of the clusters this worker owns (same rule).
  std::vector<std::unique_ptr<cluster::DnsDiscovery>> discoveries_;
  std::vector<std::unique_ptr<cluster::DnsDiscovery>> discoveries_retiring_;
  std::vector<std::unique_ptr<cluster::MdnsDiscovery>> mdns_discoveries_;  // timers only: no retiring
  bool draining_ = false;
  bool exit_ = false;
  // The admin endpoint (worker 0 only); worker 0 exits after every other worker drained.
  std::unique_ptr<AdminServer> admin_;
  std::shared_ptr<AdminShared> admin_shared_;
  bool drain_counted_ = false;

 public:
  // This worker's metrics (any thread may read them; see l4/stats.hpp).
  const l4::WorkerStats& stats() const { return stats_; }
  // This worker's DNS server (null if never configured); worker thread only.
  const modules::DnsModule* dns() const { return dns_.get(); }
};

}  // namespace portico::server
