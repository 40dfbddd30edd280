// mDNS discovery: instances of a browsed type -> endpoints.
#include <doctest/doctest.h>

#include "proxy/cluster/mdns_discovery.hpp"

namespace portico::cluster {
namespace {

modules::MdnsInstance instance(std::string name, uint16_t port, std::vector<std::string> addrs,
                               uint16_t prio = 0, uint16_t weight = 0, bool self = false) {
  modules::MdnsInstance mi;
  mi.instance.name = std::move(name);
  mi.instance.type = "_http._tcp";
  mi.instance.port = port;
  mi.instance.priority = prio;
  mi.instance.weight = weight;
  mi.instance.ifindex = 3;
  for (const auto& a : addrs) mi.instance.addresses.push_back(*mdns::IpAddress::parse(a));
  mi.self = self;
  return mi;
}

TEST_CASE("each address of each instance is an endpoint with the SRV port, priority and weight") {
  modules::MdnsInstanceList list;
  list.type = "_http._tcp";
  list.instances.push_back(instance("a", 8080, {"10.0.0.1", "fe80::a", "2001:db8::1"}, 1, 5));
  list.instances.push_back(instance("mine", 8081, {"10.0.0.2"}, 0, 0, true));  // ourselves: skipped
  list.instances.push_back(instance("noport", 0, {"10.0.0.3"}));               // no service
  auto eps = mdns_endpoints(list, 100);
  REQUIRE(eps.size() == 3);
  CHECK(eps[0].address.str() == "10.0.0.1:8080");
  CHECK(eps[0].priority == 1);
  CHECK(eps[0].weight == 5);
  CHECK(eps[1].address.family() == AF_INET6);
  CHECK(reinterpret_cast<const sockaddr_in6*>(&eps[1].address.storage)->sin6_scope_id == 3);  // link-local
  CHECK(eps[2].address.str() == "[2001:db8::1]:8080");
  CHECK(eps[2].weight == 5);
  CHECK(mdns_endpoints(list, 2).size() == 2);  // bounded
}

TEST_CASE("weight 0 counts as 1") {
  modules::MdnsInstanceList list;
  list.instances.push_back(instance("a", 80, {"10.0.0.1"}));
  auto eps = mdns_endpoints(list, 10);
  REQUIRE(eps.size() == 1);
  CHECK(eps[0].weight == 1);
}

}  // namespace
}  // namespace portico::cluster
