#include "proxy/l4/session.hpp"

#include <functional>

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

void Generation::attach_stats(WorkerStats& s) {
  stats_ = &s;
  endpoint_stats_.clear();
  for (const conf::Cluster& c : config->clusters) {
    auto& v = endpoint_stats_.emplace_back();
    for (const conf::Endpoint& e : c.endpoints) v.push_back(s.endpoint(c.name, e.address.str()));
  }
}

EndpointStats* Generation::endpoint_stats(const conf::Cluster& cluster, uint32_t index,
                                          const conf::Address& address) const {
  const conf::Cluster* first = config->clusters.data();
  const std::less<const conf::Cluster*> before;
  if (!before(&cluster, first) && before(&cluster, first + config->clusters.size())) {
    size_t ci = static_cast<size_t>(&cluster - first);
    if (ci < endpoint_stats_.size() && index < endpoint_stats_[ci].size() && index < cluster.endpoints.size() &&
        cluster.endpoints[index].address == address)
      return endpoint_stats_[ci][index];
  }
  return stats_ ? stats_->endpoint(cluster.name, address.str()) : WorkerStats::endpoint_sink();
}

bool Generation::build_tls(std::shared_ptr<const tls::TlsSet> set, std::string* error) {
  tls = std::move(set);
  server_tls.clear();
  client_tls.clear();
  if (!tls) return true;
  for (size_t i = 0; i < tls->listeners.size(); ++i) {
    server_tls.emplace_back();
    if (!tls->listeners[i]) continue;
    server_tls.back() = tls::ServerContext::create(tls->listeners[i], tls->ticket_keys[i]);
    if (!server_tls.back()) {
      *error = "listener " + config->listeners[i].name + ": cannot create a TLS context";
      return false;
    }
  }
  for (size_t i = 0; i < tls->clusters.size(); ++i) {
    client_tls.emplace_back();
    if (!tls->clusters[i]) continue;
    client_tls.back() = tls::ClientContext::create(tls->clusters[i]);
    if (!client_tls.back()) {
      *error = "cluster " + config->clusters[i].name + ": cannot create a TLS context";
      return false;
    }
  }
  return true;
}

tls::ServerContext* Generation::server_context(const conf::Listener& l) const {
  size_t i = static_cast<size_t>(&l - config->listeners.data());
  return i < server_tls.size() ? server_tls[i].get() : nullptr;
}

const std::shared_ptr<tls::ClientContext>& Generation::client_context(const conf::Cluster& c) const {
  static const std::shared_ptr<tls::ClientContext> kNone;
  size_t i = static_cast<size_t>(&c - config->clusters.data());
  return i < client_tls.size() ? client_tls[i] : kNone;
}

}  // namespace portico::l4
