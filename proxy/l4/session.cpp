#include "proxy/l4/session.hpp"

namespace portico::l4 {

const conf::Endpoint* Generation::pick(const conf::Cluster& cluster) {
  if (cluster.endpoints.empty()) return nullptr;
  size_t idx = static_cast<size_t>(&cluster - config->clusters.data());
  uint32_t& cursor = rr_cursor[idx];
  const conf::Endpoint* e = &cluster.endpoints[cursor % cluster.endpoints.size()];
  cursor = (cursor + 1) % static_cast<uint32_t>(cluster.endpoints.size());
  return e;
}

void Generation::attach_stats(WorkerStats& s) {
  endpoint_stats_.clear();
  for (const conf::Cluster& c : config->clusters) {
    auto& v = endpoint_stats_.emplace_back();
    for (const conf::Endpoint& e : c.endpoints) v.push_back(s.endpoint(c.name, e.address.str()));
  }
}

EndpointStats* Generation::endpoint_stats(const conf::Cluster& cluster, const conf::Endpoint* ep) const {
  size_t ci = static_cast<size_t>(&cluster - config->clusters.data());
  if (ep == nullptr || ci >= endpoint_stats_.size()) return WorkerStats::endpoint_sink();
  size_t ei = static_cast<size_t>(ep - cluster.endpoints.data());
  if (ei >= endpoint_stats_[ci].size()) return WorkerStats::endpoint_sink();
  return endpoint_stats_[ci][ei];
}

}  // namespace portico::l4
