// Replays a built-in corpus through the mDNS fuzz target (runs with every compiler): hand-made
// malformed packets plus every truncation and single-byte corruption of a few valid ones.

#include <cstdint>
#include <cstdio>
#include <vector>

#include "mdns/record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

using namespace portico::mdns;

namespace {

std::vector<std::vector<uint8_t>> valid_packets() {
  Name type = name_from_dotted("_http._tcp.local");
  Name inst = name_prepend("Other", type);
  Name host = name_from_dotted("other.local");
  Message q;
  q.questions.push_back({type, rrtype::kPtr, kClassIn, false});
  q.questions.push_back({name_from_dotted("fuzz.local"), rrtype::kAny, kClassIn, true});
  q.answers.push_back({type, rrtype::kPtr, kClassIn, false, 4500, rdata_name(inst)});
  Message probe;
  probe.questions.push_back({name_from_dotted("fuzz.local"), rrtype::kAny, kClassIn, true});
  probe.authority.push_back({name_from_dotted("fuzz.local"), rrtype::kA, kClassIn, false, 120, {127, 0, 0, 9}});
  Message r;
  r.qr = r.aa = true;
  r.answers.push_back({type, rrtype::kPtr, kClassIn, false, 4500, rdata_name(inst)});
  r.additional.push_back({inst, rrtype::kSrv, kClassIn, true, 120, rdata_srv(0, 0, 80, host)});
  r.additional.push_back({inst, rrtype::kTxt, kClassIn, true, 4500, rdata_txt({"a=b", "sig=AAAA"})});
  r.additional.push_back({host, rrtype::kA, kClassIn, true, 120, {127, 0, 0, 9}});
  r.additional.push_back({host, rrtype::kNsec, kClassIn, true, 120, rdata_nsec(host, {rrtype::kA})});
  Message bye = r;
  for (auto& rr : bye.answers) rr.ttl = 0;
  return {encode(q), encode(probe), encode(r), encode(bye)};
}

}  // namespace

int main() {
  std::vector<std::vector<uint8_t>> corpus = {
      {},
      {0},
      {0, 0, 0},
      {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
      {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1},      // pointer loop
      {0, 0, 0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 33, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0},  // short SRV
      {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
      // Three TSIG records (ldns_wire2pkt leaked all but the last; found by fuzz_mdns).
      {0, 3, 0, 0, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 3,
       0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0,
       0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0,
       0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0},
  };
  size_t runs = 0;
  for (const auto& c : corpus) {
    LLVMFuzzerTestOneInput(c.data(), c.size());
    ++runs;
  }
  for (const auto& pkt : valid_packets()) {
    for (uint8_t ctl : {0, 2, 4, 16}) {
      std::vector<uint8_t> in = {ctl, 3};
      in.insert(in.end(), pkt.begin(), pkt.end());
      for (size_t len = 2; len <= in.size(); ++len, ++runs) LLVMFuzzerTestOneInput(in.data(), len);
      for (size_t i = 2; i < in.size(); ++i)
        for (uint8_t v : {0x00, 0xff, 0xc0, 0x3f}) {
          auto m = in;
          m[i] = v;
          LLVMFuzzerTestOneInput(m.data(), m.size());
          ++runs;
        }
    }
  }
  std::printf("fuzz_replay_mdns: %zu inputs replayed\n", runs);
  return 0;
}
