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
