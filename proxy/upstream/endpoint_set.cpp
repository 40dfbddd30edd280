#include "proxy/upstream/endpoint_set.hpp"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace portico::upstream {

std::shared_ptr<const EndpointSet> EndpointSet::build(std::vector<Endpoint> endpoints,
                                                      std::string* err, size_t max_endpoints) {
  if (endpoints.size() > max_endpoints) {
    if (err)
      *err = std::to_string(endpoints.size()) + " endpoints, more than the limit of " +
             std::to_string(max_endpoints);
    return nullptr;
  }
  std::shared_ptr<EndpointSet> s(new EndpointSet());
  s->endpoints_.reserve(endpoints.size());
  s->keys_.reserve(endpoints.size());
  std::unordered_set<std::string> seen;
  seen.reserve(endpoints.size());
  for (auto& e : endpoints) {
    std::string key = e.address.str();
    if (!seen.insert(key).second) continue;
    e.weight = std::clamp<uint32_t>(e.weight, 1, kMaxWeight);
    s->endpoints_.push_back(e);
    s->keys_.push_back(std::move(key));
  }
  std::map<uint32_t, std::vector<uint32_t>> by_priority;
  for (uint32_t i = 0; i < s->endpoints_.size(); ++i) {
    const Endpoint& e = s->endpoints_[i];
    if (e.weight != s->endpoints_[0].weight) s->equal_weights_ = false;
    by_priority[e.priority].push_back(i);
  }
  for (auto& [priority, members] : by_priority) s->levels_.push_back({priority, std::move(members)});
  return s;
}

std::shared_ptr<const EndpointSet> EndpointSet::from_cluster(const conf::Cluster& c,
                                                             std::string* err) {
  std::vector<Endpoint> v;
  v.reserve(c.endpoints.size());
  for (const auto& e : c.endpoints) v.push_back({e.address, e.weight, e.priority});
  return build(std::move(v), err);
}

std::optional<uint32_t> EndpointSet::find(const conf::Address& a) const {
  for (uint32_t i = 0; i < endpoints_.size(); ++i)
    if (endpoints_[i].address == a) return i;
  return std::nullopt;
}

}  // namespace portico::upstream
