#pragma once
// The built-in caching DNS server on one worker: hosts one dnscache::Engine
// (this worker's cache shard) on the loop. Owns the worker's UDP and TCP
// sockets for every `dns.listen` address (bound by the main thread, one
// SO_REUSEPORT socket per worker), the TCP client connections, one upstream
// socket per engine token, and the engine's timer. Owned by the Worker; every
// method runs on that worker's thread.

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.hpp"
#include "dnscache/engine.hpp"
#include "dnscache/options.hpp"
#include "proxy/io/loop.hpp"

namespace portico::modules {

// Bounds of the glue (the engine has its own in dnscache::Options).
struct DnsLimits {
  uint32_t tcp_connections = 512;   // client TCP connections per worker; more are closed at accept
  size_t tcp_output = 64 * 1024;    // reply bytes queued per TCP client before reading pauses
  uint32_t tcp_pipeline = 32;       // queries in flight per TCP client before reading pauses
  uint32_t udp_locals = 64;         // local addresses remembered per wildcard UDP socket
};

// What one config generation hands a worker for the DNS server (built by the
// main thread in Server::publish). The worker takes ownership of the fds.
struct DnsWorkerConfig {
  std::shared_ptr<const dnscache::Options> options;  // null: the DNS server is off
  conf::Duration tcp_idle = std::chrono::seconds(10);
  uint32_t udp_batch = 32;  // datagrams received (and replies sent) per syscall
  struct Socket {
    conf::Address address;
    int udp_fd = -1;
    int tcp_fd = -1;
  };
  std::vector<Socket> sockets;  // one per dns.listen address
};

// Counters of the glue itself (the engine's are in engine_stats()).
struct DnsGlueStats {
  uint64_t udp_queries = 0;
  uint64_t udp_oversized = 0;        // client datagrams larger than the receive buffer: dropped
  uint64_t udp_send_errors = 0;      // replies not sent (EAGAIN, unreachable, ...)
  uint64_t tcp_accepted = 0;
  uint64_t tcp_refused = 0;          // closed at accept: tcp_connections reached
  uint64_t tcp_queries = 0;
  uint64_t tcp_idle_closed = 0;
  uint64_t upstream_socket_errors = 0;  // upstream socket/connect/send failed (the engine times out)
  uint64_t replies_lost = 0;         // replies for a client connection or socket already closed
  uint64_t tcp_clients = 0;          // current
  uint64_t upstream_sockets = 0;     // current
};

class DnsModule final : private io::TimerHandler {
 public:
  explicit DnsModule(io::Loop* loop, DnsLimits limits = {});
  ~DnsModule();
  DnsModule(const DnsModule&) = delete;
  DnsModule& operator=(const DnsModule&) = delete;

  // Starts, reconfigures (engine reload keeps the cache; sockets whose fds are
  // unchanged keep running) or stops (options null) the DNS server.
  void apply(DnsWorkerConfig& c);
  // Shutdown: closes every socket and connection; stopped() once all is closed.
  void drain();
  bool stopped() const { return draining_ && live_parts() == 0 && closing_.empty(); }

  // Null while the server is off. For metrics: read on the worker thread.
  const dnscache::Stats* engine_stats() const { return engine_ ? &engine_->stats() : nullptr; }
  const DnsGlueStats& glue_stats() const { return glue_; }

 private:
  class Part;
  class UdpServer;
  class TcpAcceptor;
  class TcpClient;
  class UpstreamUdp;
  class UpstreamTcp;

  void on_timer(io::Timer& t) override;
  dnscache::Time now() const { return dnscache::Time(loop_->now()); }
  size_t live_parts() const { return udp_.size() + tcp_.size() + clients_.size() + upstreams_.size(); }

  // Engine entry points used by the parts; each dispatches the resulting actions.
  void client_query(std::span<const uint8_t> bytes, const dnscache::Peer& peer);
  void upstream_reply(std::span<const uint8_t> bytes, const dnscache::Peer& from, uint32_t token);
  // The upstream socket of `token` failed: the engine moves on at once.
  void upstream_error(uint32_t token);
  void dispatch();
  void send_to_client(const dnscache::Send& s);
  void start_upstream(const dnscache::Send& s);
  void release_token(uint32_t token);
  void arm_wakeup();

  void on_accept(int fd);
  // Closes the client connection `conn_id` (freed later: safe from its own handlers).
  void client_closed(uint64_t conn_id);
  // Moves a part to the closing list (it cancels its operations); freed once idle.
  void retire(std::unique_ptr<Part> p);
  void schedule_reap();
  void reap();
  void stop_all();  // everything closes; the engine is kept (cache) unless off

  io::Loop* loop_;
  DnsLimits limits_;
  std::unique_ptr<dnscache::Random> rng_;
  std::unique_ptr<dnscache::Engine> engine_;
  dnscache::Actions actions_;
  conf::Duration tcp_idle_{};
  uint32_t udp_batch_ = 32;
  io::Timer wake_;
  io::Timer reap_timer_;
  std::vector<std::unique_ptr<UdpServer>> udp_;
  std::vector<std::unique_ptr<TcpAcceptor>> tcp_;
  std::unordered_map<uint64_t, std::unique_ptr<TcpClient>> clients_;    // by conn_id
  std::unordered_map<uint32_t, std::unique_ptr<Part>> upstreams_;       // by engine token
  std::vector<std::unique_ptr<Part>> closing_;
  uint32_t next_socket_id_ = 1;
  uint64_t next_conn_id_ = 1;
  TcpClient* current_client_ = nullptr;  // the connection whose query is being handled
  bool current_replied_ = false;         // ... and it got its reply within that call
  std::vector<uint64_t> resume_;         // clients with buffered queries to handle after dispatch
  DnsGlueStats glue_;
  bool draining_ = false;
};

}  // namespace portico::modules
