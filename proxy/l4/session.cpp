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
