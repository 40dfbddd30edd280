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

}  // namespace portico::l4
