#include "proxy/l4/session.hpp"

#include "proxy/base/log.hpp"
#include "proxy/upstream/hash.hpp"

namespace portico::l4 {

Generation::Generation(std::shared_ptr<const conf::Config> c,
                       const std::vector<std::shared_ptr<upstream::SharedCluster>>& shared,
                       uint32_t worker_id)
    : config(std::move(c)) {
  clusters.reserve(config->clusters.size());
  for (size_t i = 0; i < config->clusters.size(); ++i) {
    std::shared_ptr<upstream::SharedCluster> sc = i < shared.size() ? shared[i] : nullptr;
    if (!sc) {
      std::string err;
      sc = upstream::SharedCluster::create(config->clusters[i], nullptr, &err);
      if (!sc) {  // the loader validated the endpoints: only an impossible set gets here
        LOG_ERROR("cluster %s: %s", config->clusters[i].name.c_str(), err.c_str());
        conf::Cluster empty = config->clusters[i];
        empty.endpoints.clear();
        sc = upstream::SharedCluster::create(empty, nullptr, &err);
      }
    }
    // Each worker's balancer gets its own seed (round-robin start, P2C draws).
    uint64_t seed = upstream::mix64((uint64_t(worker_id) << 32) ^ (i + 1));
    clusters.push_back(std::make_unique<upstream::WorkerCluster>(std::move(sc), seed));
  }
}

}  // namespace portico::l4
