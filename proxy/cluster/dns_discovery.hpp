#pragma once
// DnsDiscovery: keeps a `discovery: { dns | dns_srv }` cluster's endpoint set
// current, on the worker that owns the cluster (cluster index % workers).
// Non-blocking: UDP queries on the worker's loop (wire format by ldns) to one
// nameserver (the built-in DNS module's address when it runs, else the first
// resolv.conf nameserver). dns: A and AAAA of the name, every address with the
// configured port. dns_srv: SRV of the name, then A and AAAA of each target;
// SRV priority and weight become endpoint priority and weight. A resolution
// repeats when the shortest TTL of its answers ends (bounded: 1 s .. 5 min);
// a failed one (timeout, SERVFAIL, bad answer) keeps the last set and retries
// with a backoff (1 s doubling to 30 s). NXDOMAIN or no records empties the
// set. Updates go through SharedCluster::set_endpoints (health carried over,
// requests in flight unaffected). Worker thread only.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/upstream/cluster.hpp"
#include "proxy/upstream/random.hpp"

namespace portico::cluster {

// The sans-I/O part, unit-tested: query building and answer parsing.
namespace dnswire {
// A query message (RD set) for `name` and `type` (1 A, 28 AAAA, 33 SRV).
std::vector<uint8_t> build_query(const std::string& name, uint16_t type, uint16_t id);
struct Srv {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;  // without the trailing dot
};
struct Answer {
  bool ok = false;        // parsed, id and type matched, rcode NOERROR or NXDOMAIN
  uint16_t id = 0;
  uint16_t rcode = 0;
  uint32_t min_ttl = UINT32_MAX;  // over the records of `type` (UINT32_MAX: none)
  std::vector<conf::Address> addresses;  // A / AAAA, port 0
  std::vector<Srv> srvs;
};
// Parses a response to a query of `type`; records of other types are skipped.
Answer parse_answer(const uint8_t* data, size_t len, uint16_t type);
}  // namespace dnswire

class DnsDiscovery final : private io::OpHandler, private io::TimerHandler {
 public:
  static constexpr TimeNs kQueryTimeout = 2 * kNsPerSec;
  static constexpr TimeNs kMinRefresh = kNsPerSec;
  static constexpr TimeNs kMaxRefresh = 300 * kNsPerSec;
  static constexpr TimeNs kEmptyRefresh = 5 * kNsPerSec;
  static constexpr TimeNs kMaxBackoff = 30 * kNsPerSec;
  static constexpr size_t kMaxTargets = 64;      // SRV targets resolved per round
  static constexpr size_t kMaxEndpoints = 1024;  // addresses kept per round

  DnsDiscovery(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster,
               const conf::Address& nameserver, uint64_t seed);
  ~DnsDiscovery();
  DnsDiscovery(const DnsDiscovery&) = delete;
  DnsDiscovery& operator=(const DnsDiscovery&) = delete;

  void start();
  void stop();
  bool stopped() const { return stopping_ && !recv_.armed() && !send_.armed(); }

 private:
  struct Query {
    uint16_t id = 0;
    uint16_t type = 0;
    std::string name;
    int srv = -1;  // index into srvs_ for a target's address query
    bool done = false;
  };
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  void begin_round();
  void add_query(const std::string& name, uint16_t type, int srv);
  void flush();
  void on_datagram(const uint8_t* data, size_t len);
  void maybe_finish();
  void finish(bool ok, TimeNs refresh);

  io::Loop* loop_;
  std::shared_ptr<upstream::SharedCluster> cluster_;
  conf::Address nameserver_;
  upstream::SeededRandom rng_;
  bool srv_mode_;
  std::string name_;   // the name queried (dns: host part; dns_srv: the SRV name)
  uint16_t port_ = 0;  // dns: the configured port
  int fd_ = -1;
  io::Op recv_;
  io::Op send_;
  io::Timer timer_;
  std::vector<Query> queries_;                 // this round's
  std::vector<std::vector<uint8_t>> outbox_;   // wire queries not sent yet
  std::vector<uint8_t> sending_;               // the one in flight
  std::vector<dnswire::Srv> srvs_;
  std::vector<upstream::Endpoint> found_;
  uint32_t min_ttl_ = UINT32_MAX;
  bool in_round_ = false;
  bool round_failed_ = false;
  std::string why_;  // of the last failed round
  TimeNs backoff_ = kNsPerSec;
  bool stopping_ = false;
};

}  // namespace portico::cluster
