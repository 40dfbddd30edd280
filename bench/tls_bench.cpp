// TLS handshakes per second in memory (no sockets): ECDSA P-256 certificate,
// TLS 1.3, X25519. Each iteration runs BOTH sides (client + server) of one
// handshake on this thread, so server-only capacity is higher than shown.
//   BM_FullHandshake     - no session reuse
//   BM_ResumedHandshake  - the client offers the ticket from its last session
//   BM_FullHandshakeTls12 - the same with TLS 1.2 (ECDHE-ECDSA-AES128-GCM)
// Run: build/bench/bench_tls  (scripts/bench micro runs every bench_*).

#include <benchmark/benchmark.h>

#include <memory>

#include "proxy/tls/client_context.hpp"
#include "proxy/tls/server_context.hpp"
#include "tests/support/tls_test_certs.hpp"

namespace {

using namespace portico;
using namespace portico::tls;

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<ServerContext> server;
  conf::UpstreamTls upstream;

  Fixture() {
    testing::Issued ca = testing::make_cert({.cn = "Bench CA", .ca = true}, nullptr);
    testing::write_cert(dir.file("ca.pem"), ca.cert.get());
    testing::Issued leaf =
        testing::make_cert({.cn = "bench.example.test", .dns = {"bench.example.test"}}, &ca);
    testing::write_chain(dir.file("leaf.pem"), {leaf.cert.get(), ca.cert.get()});
    testing::write_key(dir.file("leaf.key"), leaf.key.get());
    conf::ListenerTls t;
    t.certificates.push_back({dir.file("leaf.pem"), dir.file("leaf.key"), std::nullopt});
    std::string err;
    auto cfg = ServerConfig::load(t, &err);
    if (!cfg) std::abort();
    server = ServerContext::create(cfg, std::make_shared<TicketKeys>(t.ticket_rotation));
    upstream.ca = dir.file("ca.pem");
  }

  std::unique_ptr<ClientContext> client(uint16_t max_version, size_t cache) {
    ClientOptions o;
    o.max_version = max_version;
    o.session_cache_size = cache;
    o.alpn = {"http/1.1"};
    std::string err;
    auto cfg = ClientConfig::load(upstream, &err, o);
    if (!cfg) std::abort();
    return ClientContext::create(cfg);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void transfer(TlsConn& from, TlsConn& to) {
  while (from.has_output()) {
    size_t n = to.on_ciphertext(from.pending_output());
    if (n == 0) break;
    from.consume_output(n);
  }
}

// One complete handshake, including the TLS 1.3 tickets reaching the client.
bool handshake(ClientContext& cc, ServerContext& sc) {
  TlsConn client, server;
  if (!cc.connect(client, "bench", "bench.example.test") || !sc.accept(server)) return false;
  for (int i = 0; i < 10; ++i) {
    Status c = client.handshake();
    transfer(client, server);
    Status s = server.handshake();
    transfer(server, client);
    if (c == Status::kError || s == Status::kError) return false;
    if (c == Status::kOk && s == Status::kOk && !client.has_output()) break;
  }
  server.write({});
  transfer(server, client);
  uint8_t buf[16];
  client.read(buf);
  return client.handshake_done() && server.handshake_done();
}

void run(benchmark::State& state, uint16_t version, bool resume) {
  Fixture& f = fixture();
  auto cc = f.client(version, resume ? 16 : 0);
  if (resume && !handshake(*cc, *f.server)) state.SkipWithError("priming handshake failed");
  for (auto _ : state) {
    if (!handshake(*cc, *f.server)) {
      state.SkipWithError("handshake failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_FullHandshake(benchmark::State& state) { run(state, TLS1_3_VERSION, false); }
void BM_ResumedHandshake(benchmark::State& state) { run(state, TLS1_3_VERSION, true); }
void BM_FullHandshakeTls12(benchmark::State& state) { run(state, TLS1_2_VERSION, false); }

BENCHMARK(BM_FullHandshake)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ResumedHandshake)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FullHandshakeTls12)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
