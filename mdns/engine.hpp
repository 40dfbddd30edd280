#pragma once
// portico's sans-I/O mDNS/DNS-SD engine: responder (our host and services) and browser
// (configured service types) in one object. Packets, interface and time in; packets,
// destinations, browse events and the next wake-up time out. No sockets, clock or threads.
// Owned by the mdns glue module on one worker; not thread-safe.

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "mdns/browser.hpp"
#include "mdns/options.hpp"
#include "mdns/random.hpp"
#include "mdns/rate_limiter.hpp"
#include "mdns/responder.hpp"
#include "mdns/stats.hpp"
#include "mdns/types.hpp"

namespace portico::mdns {

class Engine {
 public:
  // `opts` should pass validate(); invalid services and browse types are skipped.
  // `rnd` must outlive the Engine.
  Engine(Options opts, Random& rnd);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Begins probing our names and browsing.
  void start(Time now, Actions& out);
  // One received datagram. Filters (interface, rate, TTL 255, port 5353, on-link, opcode,
  // rcode, malformed) are applied first; see stats() for what was dropped.
  void on_packet(std::span<const uint8_t> bytes, const Source& from, Time now, Actions& out);
  // Call when now >= the last next_wakeup (calling early is harmless).
  void on_timer(Time now, Actions& out);
  // Sends goodbyes (TTL 0) for everything announced and stops querying.
  void stop(Time now, Actions& out);

  // Publishes one more service (probed first). False if invalid or a duplicate.
  bool add_service(const ServiceConfig& svc, Time now, Actions& out);
  // Withdraws a service with a goodbye. False if unknown. `instance` is the configured name.
  bool remove_service(std::string_view instance, std::string_view type, Time now, Actions& out);

  // Browser results for a type ("_http._tcp"), ranked by SRV priority then weight.
  const std::vector<Instance>& instances(std::string_view type) const { return browser_.instances(type); }

  std::string hostname() const { return responder_.hostname(); }
  std::vector<std::string> service_names() const { return responder_.service_names(); }
  bool established() const { return responder_.established(); }
  const Stats& stats() const { return stats_; }
  size_t cache_size() const { return browser_.cache_size(); }
  const Options& options() const { return *opts_; }

 private:
  void finish(Time now, Actions& out);

  std::unique_ptr<Options> opts_;  // stable address: the halves keep a reference
  Stats stats_;
  RateLimiter limiter_;
  Responder responder_;
  Browser browser_;
};

}  // namespace portico::mdns
