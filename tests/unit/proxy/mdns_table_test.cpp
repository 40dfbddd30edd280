#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "proxy/modules/mdns_table.hpp"

using namespace portico;
using namespace portico::modules;

namespace {

MdnsInstance inst(const std::string& name, uint16_t port, bool self = false) {
  MdnsInstance m;
  m.instance.name = name;
  m.instance.type = "_http._tcp";
  m.instance.host = name == "B" ? "b.local" : "a.local";
  m.instance.port = port;
  m.instance.addresses = {mdns::IpAddress::v4(192, 0, 2, 1), *mdns::IpAddress::parse("fe80::1")};
  m.interface = "eth0";
  m.self = self;
  return m;
}

}  // namespace

TEST_CASE("an unknown type has no list; reset creates empty lists for the browsed types") {
  MdnsTable t;
  CHECK(t.get("_http._tcp") == nullptr);
  CHECK(t.all().empty());
  const uint64_t v0 = t.version();
  t.reset({"_http._tcp", "_ipp._tcp"}, true);
  CHECK(t.version() > v0);
  auto l = t.get("_http._tcp");
  REQUIRE(l);
  CHECK(l->type == "_http._tcp");
  CHECK(l->instances.empty());
  CHECK(t.all().size() == 2);
  CHECK(t.get("_ssh._tcp") == nullptr);
}

TEST_CASE("publish replaces the list; a snapshot taken before never changes") {
  MdnsTable t;
  t.reset({"_http._tcp"}, true);
  t.publish("_http._tcp", {inst("A", 80)});
  auto before = t.get("_http._tcp");
  const uint64_t v1 = t.version();
  t.publish("_http._tcp", {inst("A", 80), inst("B", 81)});
  CHECK(t.version() > v1);
  REQUIRE(before->instances.size() == 1);
  CHECK(before->instances[0].instance.name == "A");
  auto after = t.get("_http._tcp");
  REQUIRE(after->instances.size() == 2);
  CHECK(after->instances[1].instance.port == 81);
  CHECK(after->version > before->version);
}

TEST_CASE("reset drops types no longer browsed and keeps or clears the others") {
  MdnsTable t;
  t.reset({"_http._tcp", "_ipp._tcp"}, true);
  t.publish("_http._tcp", {inst("A", 80)});
  t.publish("_ipp._tcp", {inst("B", 631)});
  t.reset({"_http._tcp"}, false);
  CHECK(t.get("_ipp._tcp") == nullptr);
  CHECK(t.get("_http._tcp")->instances.size() == 1);
  t.reset({"_http._tcp"}, true);
  CHECK(t.get("_http._tcp")->instances.empty());
  t.reset({}, true);
  CHECK(t.all().empty());
}

TEST_CASE("dump is one sorted line per instance with quoted names") {
  MdnsTable t;
  t.publish("_http._tcp", {inst("B", 81), inst("A \"x\"", 80, true)});
  CHECK(t.dump() ==
        "_http._tcp \"A \\\"x\\\"\" host=a.local port=80 interface=eth0 addresses=192.0.2.1,fe80::1 self\n"
        "_http._tcp \"B\" host=b.local port=81 interface=eth0 addresses=192.0.2.1,fe80::1\n");
}

TEST_CASE("quote escapes quotes, backslashes and control or non-ASCII bytes") {
  CHECK(quote("Portico web") == "\"Portico web\"");
  CHECK(quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quote(std::string("x\ny\x01\xc3\xa9", 6)) == "\"x\\x0ay\\x01\\xc3\\xa9\"");
  CHECK(join_addresses({}) == "");
}

TEST_CASE("readers on other threads always see a complete list while the writer publishes") {
  MdnsTable t;
  t.reset({"_http._tcp"}, true);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto l = t.get("_http._tcp");
      if (!l) {
        ++bad;
        continue;
      }
      // Every published list holds n instances with ports 1..n.
      for (size_t i = 0; i < l->instances.size(); ++i)
        if (l->instances[i].instance.port != i + 1) ++bad;
    }
  });
  for (int n = 0; n < 2000; ++n) {
    std::vector<MdnsInstance> v;
    for (int i = 0; i < n % 7; ++i) v.push_back(inst("A", static_cast<uint16_t>(i + 1)));
    t.publish("_http._tcp", std::move(v));
  }
  done = true;
  reader.join();
  CHECK(bad.load() == 0);
}
