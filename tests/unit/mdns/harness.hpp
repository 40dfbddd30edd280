#pragma once
// Test helpers for the mDNS engine: a fixed "random" source, a fake clock, option builders
// and an in-memory link that delivers multicast to every engine (including the sender).

#include <chrono>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "mdns/engine.hpp"
#include "mdns/record.hpp"

namespace portico::mdns::test {

using namespace std::chrono_literals;

// uniform(lo, hi) == lo + value % (hi - lo + 1): with value 100, 0-250 -> 100 ms,
// 20-120 -> 120 ms, 0-20 (refresh jitter, per mille) -> 16.
struct FixedRandom final : Random {
  uint64_t value = 100;
  uint64_t next_u64() override { return value; }
};

inline const Time kT0 = Time{} + std::chrono::hours(1);
inline Time at(int64_t ms) { return kT0 + std::chrono::milliseconds(ms); }
inline int64_t ms_since_t0(Time t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - kT0).count();
}

inline Options host_options(const std::string& host, IpAddress addr) {
  Options o;
  o.hostname = host;
  o.interfaces.push_back(InterfaceConfig{1, "lo", {addr}});
  o.limits.rate_per_second = 1e6;  // tests send bursts on purpose
  o.limits.rate_burst = 1e6;
  return o;
}

inline ServiceConfig web_service(const std::string& name = "Portico web", uint16_t port = 8080) {
  ServiceConfig s;
  s.instance = name;
  s.type = "_http._tcp";
  s.port = port;
  s.txt = {{"path", "/", true}};
  return s;
}

inline Source mdns_source(IpAddress addr, uint32_t ifindex = 1) {
  return Source{{addr, kMdnsPort}, ifindex, 255, true, true};
}

inline Message decode_ok(const Packet& p) {
  auto m = decode(p.bytes);
  if (!m) throw std::runtime_error("engine produced an undecodable packet");
  return *m;
}

inline Name N(const std::string& dotted) { return name_from_dotted(dotted); }

inline std::vector<uint8_t> query_bytes(const std::string& name, uint16_t type, bool qu = false,
                                        std::vector<Record> known = {}, uint16_t id = 0) {
  Message m;
  m.id = id;
  m.questions.push_back({N(name), type, kClassIn, qu});
  m.answers = std::move(known);
  return encode(m);
}

inline std::vector<uint8_t> response_bytes(std::vector<Record> answers, std::vector<Record> additional = {}) {
  Message m;
  m.qr = m.aa = true;
  m.answers = std::move(answers);
  m.additional = std::move(additional);
  return encode(m);
}

// Records of one type in a section.
inline std::vector<Record> of_type(const std::vector<Record>& rs, uint16_t type) {
  std::vector<Record> out;
  for (const auto& r : rs)
    if (r.type == type) out.push_back(r);
  return out;
}

// Engines on one link; packets are delivered instantly (multicast to all, loopback included).
struct Lan {
  struct Node {
    Engine* engine;
    IpAddress addr;
    Time wake = kNever;
    std::vector<BrowseEvent> events;
  };
  struct Sent {
    size_t from;
    Time when;
    Packet packet;
  };
  std::vector<Node> nodes;
  std::vector<Sent> log;
  Time now = kT0;

  size_t add(Engine& e, IpAddress addr) {
    nodes.push_back({&e, addr});
    return nodes.size() - 1;
  }
  void absorb(size_t i, Actions& a, std::deque<Sent>& q) {
    nodes[i].wake = a.next_wakeup;
    for (auto& e : a.events) nodes[i].events.push_back(e);
    for (auto& p : a.out) q.push_back({i, now, p});
  }
  void flush(std::deque<Sent>& q) {
    for (int guard = 0; !q.empty() && guard < 100000; ++guard) {
      Sent s = std::move(q.front());
      q.pop_front();
      log.push_back(s);
      for (size_t j = 0; j < nodes.size(); ++j) {
        bool multicast = s.packet.dst.kind != Destination::Kind::kUnicast;
        if (!multicast && !(s.packet.dst.unicast.addr == nodes[j].addr)) continue;
        Source src{{nodes[s.from].addr, kMdnsPort}, 1, 255, true, multicast};
        Actions a;
        nodes[j].engine->on_packet(s.packet.bytes, src, now, a);
        absorb(j, a, q);
      }
    }
  }
  void start_all() {
    std::deque<Sent> q;
    for (size_t i = 0; i < nodes.size(); ++i) {
      Actions a;
      nodes[i].engine->start(now, a);
      absorb(i, a, q);
    }
    flush(q);
  }
  // Runs timers in order until `end` (inclusive).
  void run_until(Time end) {
    for (int guard = 0; guard < 100000; ++guard) {
      Time next = kNever;
      for (auto& n : nodes) next = std::min(next, n.wake);
      if (next > end) break;
      now = std::max(now, next);
      std::deque<Sent> q;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].wake > now) continue;
        Actions a;
        nodes[i].engine->on_timer(now, a);
        absorb(i, a, q);
      }
      flush(q);
    }
    now = std::max(now, end);
  }
  std::vector<Sent> sent_by(size_t i) const {
    std::vector<Sent> out;
    for (const auto& s : log)
      if (s.from == i) out.push_back(s);
    return out;
  }
};

}  // namespace portico::mdns::test
