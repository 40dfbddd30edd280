#pragma once
// The built-in mDNS/DNS-SD responder and browser on the event loop: owns the mdns::Engine,
// its two multicast sockets (224.0.0.251:5353 and [ff02::fb]:5353, joined on every
// configured interface) and one timer. Runs on worker 0 only; owned by that Worker and used
// only on its thread. Browse results are published to an MdnsTable any thread may read.
//
// Life: apply(config) at each config load (starts, or restarts the engine with goodbyes when
// the settings changed); stop() on drain or when `mdns:` is removed sends goodbyes, then
// closes the sockets; the owner destroys the module once busy() is false.
//
// Log lines (info level, stable, one per event; tests and operators grep them):
//   mdns: started host=<h>.local interfaces=<if>,... services=<n> browse=<types>
//   mdns: established host=<h>.local services="<name>","<name>"
//   mdns: renamed service "<old>" -> "<new>" type=<t>     (and: mdns: renamed host <old> -> <new>)
//   mdns: added type=<t> instance="<name>" host=<host> port=<p> interface=<if> addresses=<a,b> txt="k=v k2=v2"
//   mdns: updated (same fields)    mdns: removed type=<t> instance="<name>" host=<host> port=<p> interface=<if>
//   mdns: added service "<name>" type=<t> port=<p>   mdns: withdrew service "<name>" type=<t>   (reload)
//   mdns: interfaces changed: <if>,... (engine restarted)
//   mdns: stopped (goodbyes sent)

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "mdns/engine.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/modules/mdns_socket.hpp"
#include "proxy/modules/mdns_table.hpp"

namespace portico::modules {

// Sizing of the glue (the engine's own limits are in mdns::Limits).
struct MdnsModuleLimits {
  size_t max_send_queue = 256;               // datagrams queued per socket; more are dropped
  TimeNs rescan_interval = 5 * kNsPerSec;    // interface/address re-check (getifaddrs)
  TimeNs receive_retry = 100 * kNsPerMs;     // pause before re-arming a failed recvmsg
  uint16_t port = mdns::kMdnsPort;           // 5353; tests may change it
};

class MdnsModule final : private io::OpHandler, private io::TimerHandler {
 public:
  MdnsModule(io::Loop* loop, std::shared_ptr<MdnsTable> table, MdnsModuleLimits limits = {});
  ~MdnsModule();  // the owner waits for !busy() first (stop() or abort())
  MdnsModule(const MdnsModule&) = delete;
  MdnsModule& operator=(const MdnsModule&) = delete;

  // Applies c.mdns (which must be set). Bad settings (unreadable key file ...) are logged
  // and leave the running engine, if any, as it was. Returns false on bad settings.
  bool apply(const conf::Config& c);
  // Goodbyes for everything announced, then the sockets close (busy() turns false).
  void stop();
  // Immediate shutdown (forced drain): cancels everything, sends nothing more.
  void abort();
  // True while an operation is armed or a socket is open.
  bool busy() const;

  const mdns::Stats* stats() const { return engine_ ? &engine_->stats() : nullptr; }
  uint64_t send_errors() const { return send_errors_; }
  uint64_t send_dropped() const { return send_dropped_; }

 private:
  struct Sock {
    int family = 0;
    int fd = -1;
    io::Op recv_op;
    io::Op send_op;
    bool recv_failed = false;  // waiting for the timer to re-arm the receive
    bool aborted = false;      // abort(): send nothing more
    bool open_failed = false;  // the last open_mdns_socket failed (logged once)
    std::vector<uint32_t> joined;  // interfaces whose group membership this socket holds
    // receive state (stable while recv_op is armed)
    msghdr rmsg{};
    iovec riov{};
    sockaddr_storage rfrom{};
    alignas(cmsghdr) unsigned char rctl[kControlSpace]{};
    std::array<uint8_t, 9000> rbuf{};  // RFC 6762 17: at most 9000 bytes
    // send state (stable while send_op is armed)
    std::deque<mdns::Packet> queue;
    msghdr smsg{};
    iovec siov{};
    sockaddr_storage sto{};
    alignas(cmsghdr) unsigned char sctl[kControlSpace]{};
  };
  class SslRandom final : public mdns::Random {
   public:
    uint64_t next_u64() override;
  };

  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;

  mdns::Time now() const;
  bool wanted(const Sock& s) const;  // this family is configured and we are not stopping
  void start_engine();
  void stop_engine();
  void update_services(const std::vector<mdns::ServiceConfig>& wanted_services);
  bool rescan(bool force_restart);
  void open_sockets();
  void sync_membership();
  void arm_recv(Sock& s);
  void on_received(Sock& s, int res);
  void on_sent(Sock& s, int res);
  void send_next(Sock& s);
  void handle(mdns::Actions& a);
  void log_event(const mdns::BrowseEvent& e);
  void publish(const std::vector<std::string>& types);
  void check_names();
  void arm_timer();
  void close_idle_sockets();
  Sock* sock_for(const mdns::Destination& d);
  const MdnsInterface* iface(uint32_t index) const;

  io::Loop* loop_;
  std::shared_ptr<MdnsTable> table_;
  MdnsModuleLimits limits_;
  SslRandom random_;
  std::optional<mdns::Options> settings_;  // applied settings (interfaces not filled)
  std::vector<std::string> interface_names_;  // configured names; empty = all
  std::vector<MdnsInterface> ifaces_;        // in use
  std::unique_ptr<mdns::Engine> engine_;
  mdns::Actions actions_;
  Sock socks_[2];  // [0] IPv4, [1] IPv6
  io::Timer timer_;
  TimeNs engine_wakeup_ = -1;  // -1 = none
  TimeNs next_rescan_ = 0;
  TimeNs retry_at_ = -1;  // re-arm failed receives at this time; -1 = none
  bool stopping_ = false;
  bool established_ = false;
  uint64_t conflicts_seen_ = 0;
  std::string host_name_;                   // current label (after renames)
  std::vector<mdns::ServiceConfig> live_services_;  // published, in the engine's order
  std::vector<std::string> service_names_;         // their current labels (after renames)
  uint64_t send_errors_ = 0;
  uint64_t send_dropped_ = 0;
};

}  // namespace portico::modules
