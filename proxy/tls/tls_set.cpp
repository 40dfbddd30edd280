#include "proxy/tls/tls_set.hpp"

namespace portico::tls {

std::shared_ptr<const TlsSet> load_tls_set(const conf::Config& c, TicketKeyMap* keys,
                                           std::vector<std::string>* errors, time_t now) {
  auto set = std::make_shared<TlsSet>();
  TicketKeyMap fresh;
  bool ok = true;
  for (size_t i = 0; i < c.listeners.size(); ++i) {
    const conf::Listener& l = c.listeners[i];
    set->listeners.emplace_back();
    set->ticket_keys.emplace_back();
    if (!l.tls) continue;
    std::string err;
    auto cfg = ServerConfig::load(*l.tls, &err, now);
    if (!cfg) {
      errors->push_back("listeners[" + std::to_string(i) + "] '" + l.name + "': tls: " + err);
      ok = false;
      continue;
    }
    set->listeners.back() = cfg;
    std::shared_ptr<TicketKeys> k;
    if (keys) {
      auto it = keys->find(l.name);
      if (it != keys->end() && it->second->rotation() == cfg->ticket_rotation()) k = it->second;
    }
    if (!k) k = std::make_shared<TicketKeys>(cfg->ticket_rotation());
    fresh[l.name] = k;
    set->ticket_keys.back() = std::move(k);
  }
  for (size_t i = 0; i < c.clusters.size(); ++i) {
    const conf::Cluster& cl = c.clusters[i];
    set->clusters.emplace_back();
    if (!cl.tls) continue;
    std::string err;
    ClientOptions opts;
    auto cfg = ClientConfig::load(*cl.tls, &err, opts, now);
    if (!cfg) {
      errors->push_back("clusters[" + std::to_string(i) + "] '" + cl.name + "': tls: " + err);
      ok = false;
      continue;
    }
    set->clusters.back() = std::move(cfg);
  }
  if (!ok) return nullptr;
  if (keys) *keys = std::move(fresh);
  return set;
}

}  // namespace portico::tls
