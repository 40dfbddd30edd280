#pragma once
// One engine driven directly by a test: feed packets, run timers, inspect what it sent.

#include <utility>
#include <vector>

#include "tests/unit/mdns/harness.hpp"

namespace portico::mdns::test {

struct Solo {
  FixedRandom rnd;
  Engine engine;
  Time wake = kNever;
  std::vector<std::pair<Time, Packet>> sent;
  std::vector<BrowseEvent> events;

  explicit Solo(Options o, uint64_t random_value = 100)
      : rnd(make_rnd(random_value)), engine(std::move(o), rnd) {}
  static FixedRandom make_rnd(uint64_t v) {
    FixedRandom r;
    r.value = v;
    return r;
  }
  void take(Time t, Actions& a) {
    wake = a.next_wakeup;
    for (auto& p : a.out) sent.push_back({t, std::move(p)});
    for (auto& e : a.events) events.push_back(std::move(e));
  }
  void start(Time t) {
    Actions a;
    engine.start(t, a);
    take(t, a);
  }
  void feed(const std::vector<uint8_t>& bytes, const Source& src, Time t) {
    Actions a;
    engine.on_packet(bytes, src, t, a);
    take(t, a);
  }
  void run(Time end) {
    for (int guard = 0; guard < 100000 && wake <= end; ++guard) {
      Time t = wake;
      Actions a;
      engine.on_timer(t, a);
      take(t, a);
    }
  }
  void stop(Time t) {
    Actions a;
    engine.stop(t, a);
    take(t, a);
  }
  // Packets sent at or after `from`.
  std::vector<std::pair<Time, Packet>> since(Time from) const {
    std::vector<std::pair<Time, Packet>> out;
    for (const auto& s : sent)
      if (s.first >= from) out.push_back(s);
    return out;
  }
};

// A responder that has finished probing and announcing (at 1850 ms with FixedRandom 100).
inline Options web_host() {
  Options o = host_options("portico", IpAddress::v4(127, 0, 0, 2));
  auto s = web_service();
  s.subtypes = {"_printer"};
  o.services.push_back(s);
  return o;
}

}  // namespace portico::mdns::test
