#pragma once
// DnsDiscovery: keeps a `discovery: { dns | dns_srv }` cluster's endpoint set
// current, on the worker that owns the cluster (cluster index % workers).
// Non-blocking: UDP queries on the worker's loop (wire format by ldns) to one
// nameserver (`discovery.nameserver`, else the built-in DNS module's address
// when it runs, else the first resolv.conf nameserver); an answer with the TC
// bit is asked again over TCP (one connection per round, queries pipelined
// with length prefixes, closed when the round ends). dns: A and AAAA of the
// name, every address with the configured port. dns_srv: SRV of the name,
// then A and AAAA of each target; SRV priority and weight become endpoint
// priority and weight. A round (UDP and TCP) is bounded by
// `discovery.timeout`; it repeats when the shortest TTL of its answers ends
// (clamped to min_refresh..max_refresh; empty_refresh with no record); a
// failed one (timeout, SERVFAIL, bad answer, TCP error) keeps the last set
// and retries with a backoff (retry_backoff doubling to max_retry_backoff).
// NXDOMAIN or no records empties the set. Updates go through
// SharedCluster::set_endpoints (health carried over, requests in flight
// unaffected). Worker thread only.

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
  bool truncated = false; // TC: ask again over TCP (records, if any, are partial)
  uint16_t id = 0;
  uint16_t rcode = 0;
  uint32_t min_ttl = UINT32_MAX;  // over the records of `type` (UINT32_MAX: none)
  std::vector<conf::Address> addresses;  // A / AAAA, port 0
  std::vector<Srv> srvs;
};
// Parses a response to a query of `type`; records of other types are skipped.
Answer parse_answer(const uint8_t* data, size_t len, uint16_t type);
// DNS over TCP (RFC 7766): each message behind a 2-byte big-endian length.
void append_framed(std::vector<uint8_t>& out, const std::vector<uint8_t>& message);
// Length-prefixed messages out of a byte stream. Holds at most one partial
// message (<= 64 KiB) plus what one feed() brought.
class TcpFramer {
 public:
  void feed(const uint8_t* data, size_t len);
  // The next complete message (valid until the next call), or false.
  bool next(const uint8_t** data, size_t* len);

 private:
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
};
}  // namespace dnswire

class DnsDiscovery final : private io::OpHandler, private io::TimerHandler {
 public:
  // Bounds that are not configuration: they follow from the wire format.
  static constexpr size_t kMaxTcpMessage = 65535;  // the length prefix's range

  // `nameserver` is used unless the cluster's `discovery.nameserver` is set.
  DnsDiscovery(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster,
               const conf::Address& nameserver, uint64_t seed);
  ~DnsDiscovery();
  DnsDiscovery(const DnsDiscovery&) = delete;
  DnsDiscovery& operator=(const DnsDiscovery&) = delete;

  void start();
  void stop();
  bool stopped() const {
    return stopping_ && !recv_.armed() && !send_.armed() && !tcp_ && tcp_dying_.empty();
  }

 private:
  class TcpConn;
  friend class TcpConn;
  struct Query {
    uint16_t id = 0;
    uint16_t type = 0;
    std::string name;
    int srv = -1;  // index into srvs_ for a target's address query
    bool done = false;
    bool tcp = false;  // truncated over UDP: asked again over TCP
  };
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  void begin_round();
  void add_query(const std::string& name, uint16_t type, int srv);
  void flush();
  void on_answer(const uint8_t* data, size_t len, bool tcp);
  void ask_over_tcp(Query& q);
  void tcp_failed(const std::string& why);
  void tcp_freed(TcpConn* c);
  void close_tcp();
  void maybe_finish();
  void finish(bool ok, TimeNs refresh);

  io::Loop* loop_;
  std::shared_ptr<upstream::SharedCluster> cluster_;
  conf::Address nameserver_;
  upstream::SeededRandom rng_;
  bool srv_mode_;
  std::string name_;   // the name queried (dns: host part; dns_srv: the SRV name)
  uint16_t port_ = 0;  // dns: the configured port
  // From the cluster's `discovery:` (conf::Discovery documents each).
  TimeNs timeout_, min_refresh_, max_refresh_, empty_refresh_, retry_backoff_, max_retry_backoff_;
  size_t max_targets_, max_endpoints_;
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
  TimeNs backoff_ = 0;
  bool stopping_ = false;
  std::unique_ptr<TcpConn> tcp_;                     // this round's TCP connection
  std::vector<std::unique_ptr<TcpConn>> tcp_dying_;  // cancelled, waiting for completions
};

}  // namespace portico::cluster
