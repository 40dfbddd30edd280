#pragma once
// The main thread's side of portico: picks the loop backend, binds every
// listener's sockets (one SO_REUSEPORT socket per worker, so bind errors are
// reported before anything starts and privileges can be dropped after
// binding), starts the workers, then waits for signals: SIGHUP reloads,
// SIGTERM/SIGINT drain and exit, SIGUSR2 starts a new binary and hands it
// every listening socket (upgrade.hpp), then drains once it is ready.

#include <sys/socket.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/server/upgrade.hpp"
#include "proxy/server/worker.hpp"

namespace portico::server {

class Server {
 public:
  // argv: the command line, given again to the new process of an upgrade.
  Server(std::string config_path, std::vector<std::string> argv)
      : config_path_(std::move(config_path)), argv_(std::move(argv)) {}
  // Runs until drained; returns the process exit code.
  int run(std::shared_ptr<const conf::Config> config);

 private:
  struct Bound {
    std::vector<int> fds;  // one per worker (-1: that worker has none)
    // Inherited sockets beyond one per worker (the old process had more
    // workers): served too, spread over the workers, so nothing the kernel
    // queued on them is lost. Listeners only.
    std::vector<int> extra;
    std::shared_ptr<l4::ListenerShared> shared;
    int type = SOCK_STREAM;
    conf::Address address;
  };
  // Sockets for every listener of `c` and for the DNS server (dns.listen, UDP
  // and TCP), reusing those already bound under the same name and address. On
  // failure nothing new stays open.
  bool bind_all(const conf::Config& c, std::map<std::string, Bound>& out, std::string& err);
  // Hands each worker its sockets and the config (dns: the engine options).
  void publish(const std::shared_ptr<const conf::Config>& c, std::map<std::string, Bound>& bound,
               const std::shared_ptr<const dnscache::Options>& dns,
               const std::shared_ptr<const tls::TlsSet>& tls);
  // Loads the certificates of `c` (ticket keys kept per listener name); logs
  // each problem with `what` in front and returns false.
  bool load_tls(const conf::Config& c, std::shared_ptr<const tls::TlsSet>* out, const char* what,
                std::string* why = nullptr);
  void rotate_ticket_keys();
  void log_dns(const conf::Config& c, const dnscache::Options* dns);
  // Returns "" on success, else why the running configuration was kept.
  std::string reload();
  // handover: another process took the sockets (upgrade): the admin endpoint
  // stops accepting at once and mDNS leaves without goodbyes.
  void drain(bool handover = false);
  // SIGUSR2: starts the new process (the hand-over completes in run()'s loop).
  void start_upgrade();
  // Logs why start-up failed, tells the old process of an upgrade, returns 1.
  int fail(const std::string& why);

  std::string config_path_;
  std::vector<std::string> argv_;
  // Sockets handed over by the process that started this one (upgrade); empty after start-up.
  InheritedSockets inherited_;
  std::unique_ptr<UpgradeAttempt> upgrade_;  // in progress
  std::vector<pid_t> children_;              // failed new processes not reaped yet
  std::shared_ptr<const conf::Config> current_;
  std::map<std::string, Bound> bound_;  // key: name|bind|type
  std::vector<std::unique_ptr<Worker>> workers_;
  // Session-ticket keys per TLS listener name, shared by every worker and
  // kept across reloads; rotated by this thread (run()'s 1 s signal wait).
  tls::TicketKeyMap ticket_keys_;
  // mDNS browse results, written by worker 0, readable by every worker and the admin side.
  std::shared_ptr<modules::MdnsTable> mdns_table_ = std::make_shared<modules::MdnsTable>();
  // The admin endpoint: its socket (handed to worker 0 once) and what it reads.
  std::shared_ptr<AdminShared> admin_ = std::make_shared<AdminShared>();
  int admin_fd_ = -1;
  std::string admin_address_;  // what admin_fd_ is bound to (admin.bind changes only on restart)
  // The running generation's clusters (by name), handed to the next one so
  // health state and discovered endpoints survive a reload.
  std::map<std::string, std::shared_ptr<upstream::SharedCluster>> clusters_;

 public:
  // The running clusters (admin view: SharedCluster::describe). Main thread.
  const std::map<std::string, std::shared_ptr<upstream::SharedCluster>>& clusters() const { return clusters_; }
};

// Chooses the backend from config and PORTICO_EVENT_LOOP; logs which and why.
// Returns false (with `err`) when io_uring was required but does not work.
bool choose_backend(conf::EventLoop configured, io::Backend& out, bool& allow_fallback, std::string& err);

}  // namespace portico::server
