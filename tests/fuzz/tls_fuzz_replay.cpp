// Replays inputs through the tls fuzz target so every build exercises it
// without libFuzzer: a real ClientHello made at run time (TLS 1.3 and 1.2,
// with SNI and ALPN), its truncations and bit flips, hand-written garbage, and
// any files named on the command line. Registered as `fuzz_replay_tls`.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "proxy/tls/client_context.hpp"
#include "tests/support/tls_test_certs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace portico;

void run(const std::string& s) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The first flight of a real client.
std::string client_hello(uint16_t max_version, const std::string& host) {
  tls::ClientOptions o;
  o.max_version = max_version;
  o.alpn = {"h2", "http/1.1"};
  conf::UpstreamTls u;
  u.verify = false;
  std::string err;
  auto cfg = tls::ClientConfig::load(u, &err, o);
  if (!cfg) {
    std::fprintf(stderr, "client config: %s\n", err.c_str());
    std::exit(1);
  }
  auto ctx = tls::ClientContext::create(cfg);
  tls::TlsConn c;
  ctx->connect(c, "fuzz", host);
  c.handshake();
  auto out = c.pending_output();
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

}  // namespace

int main(int argc, char** argv) {
  size_t runs = 0;
  std::vector<std::string> hellos = {client_hello(TLS1_3_VERSION, "a.example.test"),
                                     client_hello(TLS1_2_VERSION, "x.w.example.test"),
                                     client_hello(TLS1_3_VERSION, "")};
  std::mt19937 rng(1234);
  for (const auto& h : hellos) {
    for (char chunk : {'\x00', '\x05', '\x3f', '\x80', '\xff'}) {
      run(chunk + h);
      ++runs;
      for (size_t n = 0; n < h.size(); n += 13) {  // truncations
        run(chunk + h.substr(0, n));
        ++runs;
      }
    }
    for (int i = 0; i < 400; ++i) {  // bit flips and byte overwrites
      std::string m = h;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t pos = rng() % m.size();
        if (rng() & 1) m[pos] = static_cast<char>(m[pos] ^ (1u << (rng() % 8)));
        else m[pos] = static_cast<char>(rng());
      }
      run(static_cast<char>(rng()) + m);
      ++runs;
    }
    run('\x10' + h + h);        // a second ClientHello after the first
    run('\x10' + h + "\x17\x03\x03\x00\x05hello");  // application data mid-handshake
    runs += 2;
  }
  const std::string garbage[] = {
      std::string("\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n", 28),
      std::string("\x00\x16\x03\x01\xff\xff", 6),           // record longer than allowed
      std::string("\x00\x16\x03\x01\x00\x00", 6),           // empty handshake record
      std::string("\x00\x15\x03\x03\x00\x02\x02\x28", 8),   // fatal alert before hello
      std::string("\x00\x80\x2e\x01\x03\x01", 6),           // SSLv2-style hello
      std::string("\x00\x16\x03\x01\x00\x04\x01\x00\x00\x00", 10),  // hello with no body
      std::string(1, '\x00') + std::string(70000, '\x16'),  // a lot of record headers
  };
  for (const auto& g : garbage) {
    run(g);
    ++runs;
  }
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    run(std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()));
    ++runs;
  }
  std::printf("fuzz_replay_tls: %zu inputs ok\n", runs);
  return 0;
}
