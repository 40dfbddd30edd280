// libFuzzer target: arbitrary datagrams into portico::mdns::Engine::on_packet, then a timer.
// The first two input bytes choose the source (port, TTL, family, QU path) and the time step.

#include <cstddef>
#include <cstdint>
#include <span>

#include "mdns/engine.hpp"
#include "mdns/signing.hpp"

using namespace portico::mdns;

namespace {

Options fuzz_options() {
  Options o;
  o.hostname = "fuzz";
  o.interfaces.push_back(InterfaceConfig{1, "lo", {IpAddress::v4(127, 0, 0, 2), *IpAddress::parse("::1")}});
  ServiceConfig s;
  s.instance = "Fuzz web";
  s.type = "_http._tcp";
  s.subtypes = {"_sub1"};
  s.port = 80;
  s.txt = {{"k", "v", true}};
  o.services.push_back(s);
  o.browse = {"_http._tcp", "_ipp._tcp"};
  std::array<uint8_t, 32> seed{};
  o.signing.trusted_keys = {public_key_of(key_from_seed(seed))};
  o.limits.rate_per_second = 1e9;
  o.limits.rate_burst = 1e9;
  o.limits.max_cache_entries = 256;
  return o;
}

struct State {
  SeededRandom rnd{1};
  Engine engine{fuzz_options(), rnd};
  Time now = Time{} + std::chrono::hours(1);
  State() {
    Actions a;
    engine.start(now, a);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static State st;
  if (size < 2) return 0;
  uint8_t ctl = data[0], step = data[1];
  Source src;
  src.from.addr = (ctl & 1) ? *IpAddress::parse("::2") : IpAddress::v4(127, 0, 0, 9);
  src.from.port = (ctl & 2) ? 40000 : kMdnsPort;
  src.ttl = (ctl & 4) ? 64 : 255;
  src.on_link = (ctl & 8) == 0;
  src.to_multicast = (ctl & 16) == 0;
  src.ifindex = (ctl & 32) ? 7 : 1;
  st.now += std::chrono::milliseconds(step * 16);
  Actions a;
  st.engine.on_packet(std::span<const uint8_t>(data + 2, size - 2), src, st.now, a);
  if (a.next_wakeup <= st.now + std::chrono::seconds(5)) {
    st.now = std::max(st.now, a.next_wakeup);
    a.clear();
    st.engine.on_timer(st.now, a);
  }
  return 0;
}
