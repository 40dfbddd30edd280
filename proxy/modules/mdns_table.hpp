#pragma once
// The published result of mDNS browsing: for each browsed service type, an immutable list of
// the instances currently found. Written by the mdns module on worker 0; read from any
// thread (cluster discovery `discovery: { mdns: ... }`, the admin endpoint). Owned by the
// Server (shared_ptr), handed to every worker in WorkerConfig.
//
// Readers take a snapshot: get(type) returns a shared_ptr to a list that never changes;
// the writer replaces the whole list (copy-on-write). version() increases on every change,
// so a poller can skip work when nothing moved.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mdns/types.hpp"

namespace portico::modules {

// One discovered service instance (an mdns::Instance plus where and what it is).
struct MdnsInstance {
  mdns::Instance instance;  // name, type, host, port, priority, weight, addresses, txt
  std::string interface;    // interface name it was found on ("eth0")
  bool self = false;        // published by this portico (its host name is ours)
  bool operator==(const MdnsInstance&) const = default;
};

// All instances of one service type, ranked as the engine ranks them (SRV priority
// ascending, then weight descending). Immutable once published.
struct MdnsInstanceList {
  std::string type;  // "_http._tcp"
  uint64_t version = 0;
  std::vector<MdnsInstance> instances;
};

class MdnsTable {
 public:
  // ---- readers: any thread ----
  // The current list for `type`; nullptr if that type is not browsed (or mdns is off).
  std::shared_ptr<const MdnsInstanceList> get(std::string_view type) const;
  // Every browsed type's list, ordered by type.
  std::vector<std::shared_ptr<const MdnsInstanceList>> all() const;
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // A stable text dump, one line per instance, sorted (for the admin endpoint and tests):
  //   <type> "<instance>" host=<host> port=<port> interface=<ifname> addresses=<a,b> [self]
  std::string dump() const;

  // ---- writer: the mdns module (one thread) ----
  // Replaces the list of `type` (creates it if new).
  void publish(std::string_view type, std::vector<MdnsInstance> instances);
  // Keeps only the given types (types no longer browsed disappear), each emptied if `clear`.
  void reset(const std::vector<std::string>& types, bool clear);

 private:
  mutable std::mutex mu_;  // guards lists_ (only pointer copies happen under it)
  std::map<std::string, std::shared_ptr<const MdnsInstanceList>, std::less<>> lists_;
  std::atomic<uint64_t> version_{0};
};

// "Portico web" -> "\"Portico web\"", escaping '"', '\\' and bytes outside 0x20..0x7e as \xNN.
std::string quote(std::string_view s);
// "10.0.0.1,fe80::1"
std::string join_addresses(const std::vector<mdns::IpAddress>& a);

}  // namespace portico::modules
