#pragma once
// MdnsDiscovery: keeps a `discovery: { mdns: "_svc._tcp" }` cluster's endpoint
// set equal to the instances of that service type that the mDNS module browses
// (modules::MdnsTable, written by worker 0). Runs on the worker that owns the
// cluster (cluster index % workers): a timer polls the table's version every
// 500 ms (one atomic load) and, when it moved, turns the type's instances into
// endpoints: each address of each instance with the SRV port, priority and
// weight (at most `discovery.max_endpoints`); IPv6 link-local addresses get
// the interface they were seen on as scope. Instances this portico publishes
// itself are skipped. Updates go through SharedCluster::set_endpoints.
// Worker thread only.

#include <memory>
#include <vector>

#include "proxy/io/loop.hpp"
#include "proxy/modules/mdns_table.hpp"
#include "proxy/upstream/cluster.hpp"

namespace portico::cluster {

// The endpoints of one type's instances (sans-I/O, unit-tested).
std::vector<upstream::Endpoint> mdns_endpoints(const modules::MdnsInstanceList& list, size_t max_endpoints);

class MdnsDiscovery final : private io::TimerHandler {
 public:
  // Not configuration: this polls one atomic word (the table's version); how
  // fast instances appear and leave is set by mDNS itself (announcements,
  // goodbyes, TTLs: the mdns module). 500 ms adds at most that much to it.
  static constexpr TimeNs kPoll = 500 * kNsPerMs;

  MdnsDiscovery(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster,
                std::shared_ptr<modules::MdnsTable> table);
  ~MdnsDiscovery();
  MdnsDiscovery(const MdnsDiscovery&) = delete;
  MdnsDiscovery& operator=(const MdnsDiscovery&) = delete;
  void start();
  void stop();
  bool stopped() const { return true; }  // nothing in flight: a timer only

 private:
  void on_timer(io::Timer& t) override;
  void poll();

  io::Loop* loop_;
  std::shared_ptr<upstream::SharedCluster> cluster_;
  std::shared_ptr<modules::MdnsTable> table_;
  uint64_t seen_ = UINT64_MAX;
  io::Timer timer_;
};

}  // namespace portico::cluster
