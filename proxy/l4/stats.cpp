#include "proxy/l4/stats.hpp"

namespace portico::l4 {

namespace {
template <class Map, class Key>
auto* slot(std::mutex& mu, Map& m, const Key& k) {
  std::lock_guard<std::mutex> lock(mu);
  auto& p = m[k];
  if (!p) p = std::make_unique<typename Map::mapped_type::element_type>();
  return p.get();
}
}  // namespace

ListenerStats* WorkerStats::listener(const std::string& name) { return slot(mu_, listeners_, name); }

RouteStats* WorkerStats::route(const std::string& listener, const std::string& route) {
  return slot(mu_, routes_, std::make_pair(listener, route));
}

EndpointStats* WorkerStats::endpoint(const std::string& cluster, const std::string& address) {
  return slot(mu_, endpoints_, std::make_pair(cluster, address));
}

void WorkerStats::each_listener(const std::function<void(const std::string&, const ListenerStats&)>& f) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : listeners_) f(k, *v);
}

void WorkerStats::each_route(
    const std::function<void(const std::string&, const std::string&, const RouteStats&)>& f) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : routes_) f(k.first, k.second, *v);
}

void WorkerStats::each_endpoint(
    const std::function<void(const std::string&, const std::string&, const EndpointStats&)>& f) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : endpoints_) f(k.first, k.second, *v);
}

ListenerStats* WorkerStats::listener_sink() {
  static ListenerStats s;
  return &s;
}
RouteStats* WorkerStats::route_sink() {
  static RouteStats s;
  return &s;
}
EndpointStats* WorkerStats::endpoint_sink() {
  static EndpointStats s;
  return &s;
}

}  // namespace portico::l4
