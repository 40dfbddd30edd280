#include "proxy/cluster/mdns_discovery.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "proxy/base/log.hpp"

namespace portico::cluster {

std::vector<upstream::Endpoint> mdns_endpoints(const modules::MdnsInstanceList& list, size_t max_endpoints) {
  std::vector<upstream::Endpoint> out;
  for (const modules::MdnsInstance& mi : list.instances) {
    if (mi.self || mi.instance.port == 0) continue;
    for (const mdns::IpAddress& ip : mi.instance.addresses) {
      if (out.size() >= max_endpoints) return out;
      upstream::Endpoint e;
      e.weight = std::max<uint32_t>(mi.instance.weight, 1);
      e.priority = mi.instance.priority;
      if (ip.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&e.address.storage);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(mi.instance.port);
        std::memcpy(&sin->sin_addr, ip.bytes.data(), 4);
        e.address.len = sizeof(sockaddr_in);
      } else if (ip.is_v6()) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&e.address.storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(mi.instance.port);
        std::memcpy(&sin6->sin6_addr, ip.bytes.data(), 16);
        if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) {
          if (mi.instance.ifindex == 0) continue;  // unusable without its interface
          sin6->sin6_scope_id = mi.instance.ifindex;
        }
        e.address.len = sizeof(sockaddr_in6);
      } else {
        continue;
      }
      out.push_back(e);
    }
  }
  return out;
}

MdnsDiscovery::MdnsDiscovery(io::Loop* loop, std::shared_ptr<upstream::SharedCluster> cluster,
                             std::shared_ptr<modules::MdnsTable> table)
    : loop_(loop), cluster_(std::move(cluster)), table_(std::move(table)), timer_(this, 0) {}

MdnsDiscovery::~MdnsDiscovery() { loop_->timers().cancel(timer_); }

void MdnsDiscovery::start() {
  poll();
  loop_->timers().arm(timer_, loop_->now() + kPoll);
}

void MdnsDiscovery::stop() { loop_->timers().cancel(timer_); }

void MdnsDiscovery::on_timer(io::Timer&) {
  poll();
  loop_->timers().arm(timer_, loop_->now() + kPoll);
}

void MdnsDiscovery::poll() {
  if (!table_) return;
  const uint64_t v = table_->version();
  if (v == seen_) return;
  seen_ = v;
  auto list = table_->get(cluster_->config().discovery.name);
  if (!list) return;  // not browsed (yet)
  std::string err;
  const size_t before = cluster_->snapshot()->set->size();
  const uint64_t cv = cluster_->version();
  if (!cluster_->set_endpoints(mdns_endpoints(*list, cluster_->config().discovery.max_endpoints), &err))
    LOG_WARN("cluster %s: mdns discovery: %s", cluster_->name().c_str(), err.c_str());
  else if (cluster_->version() != cv)
    LOG_INFO("cluster=%s discovery=mdns endpoints=%zu (was %zu)", cluster_->name().c_str(),
             cluster_->snapshot()->set->size(), before);
}

}  // namespace portico::cluster
