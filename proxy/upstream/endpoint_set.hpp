#pragma once
// EndpointSet: an immutable snapshot of a cluster's endpoints (address, weight,
// priority), built once from conf::Cluster or from a discovery result and shared
// read-only by all workers (std::shared_ptr<const EndpointSet>); a change builds a
// new set. Endpoint i of a set is the i-th row of its HealthTable and the index
// every balancer returns. Any thread may read it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"

namespace portico::upstream {

struct Endpoint {
  conf::Address address;
  uint32_t weight = 1;    // clamped to [1, kMaxWeight]
  uint32_t priority = 0;  // 0 is the highest priority
};

// The endpoints sharing one priority number, in set order.
struct PriorityLevel {
  uint32_t priority = 0;
  std::vector<uint32_t> members;  // endpoint indices
};

class EndpointSet {
 public:
  // Not configuration: the loader bounds `weight` to the same range, and
  // discovery's `max_endpoints` (1..65536) keeps sets under the size cap,
  // which only guards the per-set tables (maglev 10 x n slots, ring points).
  static constexpr uint32_t kMaxWeight = 10000;
  static constexpr size_t kDefaultMaxEndpoints = 65536;

  // Builds a set. Duplicate addresses keep the first occurrence; weights are
  // clamped to [1, kMaxWeight] (DNS SRV allows weight 0). More than
  // `max_endpoints` endpoints is an error: nullptr and *err says why.
  static std::shared_ptr<const EndpointSet> build(std::vector<Endpoint> endpoints, std::string* err,
                                                  size_t max_endpoints = kDefaultMaxEndpoints);
  // The static endpoints of a cluster (discovery clusters start empty).
  static std::shared_ptr<const EndpointSet> from_cluster(const conf::Cluster& c, std::string* err);

  size_t size() const { return endpoints_.size(); }
  bool empty() const { return endpoints_.empty(); }
  const Endpoint& operator[](size_t i) const { return endpoints_[i]; }
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  // Stable identity of endpoint i ("127.0.0.1:80"): consistent hashing places an
  // endpoint by this string, so its keys do not move when others come or go.
  const std::string& key(size_t i) const { return keys_[i]; }
  // Priority levels, highest priority (lowest number) first.
  const std::vector<PriorityLevel>& levels() const { return levels_; }
  // Index of the endpoint with this address, if any (linear; not for the data path).
  std::optional<uint32_t> find(const conf::Address& a) const;
  bool equal_weights() const { return equal_weights_; }

 private:
  EndpointSet() = default;
  std::vector<Endpoint> endpoints_;
  std::vector<std::string> keys_;
  std::vector<PriorityLevel> levels_;
  bool equal_weights_ = true;
};

}  // namespace portico::upstream
