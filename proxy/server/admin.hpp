#pragma once
// The admin endpoint (admin.bind): a small HTTP/1.1 server on worker 0's loop,
// parsing with proxy/http's RequestParser. AdminShared is what the main thread
// and the admin server share (created by the Server, read by worker 0);
// AdminServer is owned by worker 0 and runs on its thread only.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/l4/stats.hpp"
#include "proxy/modules/mdns_table.hpp"
#include "proxy/upstream/cluster.hpp"

namespace portico::server {

struct AdminShared {
  // ---- written by the main thread ----
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> reloads_done{0};  // reload attempts finished (ok or failed)
  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_failed{0};
  std::atomic<uint32_t> workers_left{0};  // workers not yet done draining (worker 0 exits last)
  std::vector<const l4::WorkerStats*> workers;  // fixed before the workers start
  std::shared_ptr<modules::MdnsTable> mdns;
  std::string backend;
  int64_t start_unix = 0;  // seconds

  void set_config(std::shared_ptr<const conf::Config> c, bool ok, std::string error);
  std::shared_ptr<const conf::Config> config() const;
  // The running generation's clusters by name (health, ejection, breakers).
  using ClusterMap = std::map<std::string, std::shared_ptr<upstream::SharedCluster>>;
  void set_clusters(ClusterMap m);
  ClusterMap clusters() const;
  std::string last_reload_error() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const conf::Config> config_;
  std::string last_error_;
  ClusterMap clusters_;
};

// Bounds of the admin server.
struct AdminLimits {
  uint32_t connections = 64;     // more are closed at accept
  TimeNs request_timeout = 10 * kNsPerSec;  // whole request read
  TimeNs reload_wait = 15 * kNsPerSec;      // POST /reload waits this long for the main thread
  size_t request_bytes = 64 * 1024;         // head + body
};

class AdminConn;

class AdminServer final : private io::OpHandler, private io::TimerHandler {
 public:
  AdminServer(io::Loop* loop, int fd, std::shared_ptr<AdminShared> shared, AdminLimits limits = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void start();
  // Stops accepting and aborts every connection; idle() once nothing is armed.
  void stop();
  // Stops accepting (another process took the socket: upgrade); requests in
  // progress, and connections accepted before the cancel landed, are answered.
  void stop_accepting();
  bool idle() const;
  AdminShared& shared() { return *shared_; }
  io::Loop* loop() { return loop_; }
  const AdminLimits& limits() const { return limits_; }
  void finished(AdminConn* c);  // a connection ended: freed at the next reap

 private:
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  void accepted(int res);  // a new connection (res >= 0) or the accept's error

  io::Loop* loop_;
  int fd_;
  std::shared_ptr<AdminShared> shared_;
  AdminLimits limits_;
  io::Op accept_;
  io::Timer backoff_;
  std::vector<std::unique_ptr<AdminConn>> conns_;
  bool stopping_ = false;
  bool accepting_ = true;
  uint64_t evicted_ = 0, refused_ = 0;  // since the last warning
  TimeNs next_warn_ = 0;
};

}  // namespace portico::server
