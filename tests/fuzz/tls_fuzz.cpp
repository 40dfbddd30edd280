// libFuzzer target: bytes -> a server TlsConn as if they came from a client
// (ClientHello and whatever follows), fed in chunks whose size the first byte
// picks, with the handshake driven after each chunk; then EOF. The server has
// two certificates (SNI), ALPN, tickets and optional client certificates, so
// the parser paths behind them are reachable. Checks the invariants the
// connection code relies on: a bounded input queue, errors carry a reason,
// nothing crashes or leaks. Certificates are made once in a temp directory.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "proxy/tls/server_context.hpp"
#include "tests/support/tls_test_certs.hpp"

namespace {

using namespace portico;
using namespace portico::tls;

#define FUZZ_ASSERT(c)      \
  do {                      \
    if (!(c)) std::abort(); \
  } while (0)

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<ServerContext> ctx;
  Fixture() {
    testing::Issued ca = testing::make_cert({.cn = "Fuzz CA", .ca = true}, nullptr);
    testing::write_cert(dir.file("ca.pem"), ca.cert.get());
    testing::write_pair(dir, "a", {.cn = "a.example.test", .dns = {"a.example.test"}}, &ca);
    testing::write_pair(dir, "w", {.cn = "w", .dns = {"*.w.example.test"}}, &ca);
    conf::ListenerTls t;
    t.certificates.push_back({dir.file("a.pem"), dir.file("a.key"), std::nullopt});
    t.certificates.push_back({dir.file("w.pem"), dir.file("w.key"), std::nullopt});
    t.alpn = {"http/1.1", "h2"};
    t.client_ca = dir.file("ca.pem");
    t.client_auth = conf::ClientAuth::kOptional;
    std::string err;
    auto cfg = ServerConfig::load(t, &err);
    FUZZ_ASSERT(cfg);
    ctx = ServerContext::create(cfg, std::make_shared<TicketKeys>(std::chrono::hours(1)));
    FUZZ_ASSERT(ctx);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  if (size == 0) return 0;
  size_t chunk = 1 + (data[0] % 64) * (data[0] >= 128 ? 97 : 1);
  ++data;
  --size;
  TlsConn conn;
  FUZZ_ASSERT(f.ctx->accept(conn));
  size_t off = 0;
  Status st = Status::kWantInput;
  for (int rounds = 0; off < size && rounds < 100000; ++rounds) {
    size_t n = size - off < chunk ? size - off : chunk;
    size_t taken = conn.on_ciphertext({data + off, n});
    FUZZ_ASSERT(taken <= n);
    FUZZ_ASSERT(conn.buffered_input() <= 32 * 1024);
    off += taken;
    uint8_t buf[512];
    IoResult r = conn.read(buf);  // drives the handshake, then reads
    st = r.status;
    FUZZ_ASSERT(r.bytes <= sizeof buf);
    conn.consume_output(conn.pending_output().size());  // "send" it
    if (st == Status::kError) {
      FUZZ_ASSERT(conn.error().kind != ErrorKind::kNone);
      FUZZ_ASSERT(conn.error().reason != nullptr && conn.error().reason[0] != '\0');
      break;
    }
    if (st == Status::kClosed) break;
    if (taken == 0 && r.bytes == 0) break;  // stuck: input full and nothing consumed it
  }
  conn.on_eof();
  uint8_t buf[64];
  IoResult r = conn.read(buf);
  FUZZ_ASSERT(r.status != Status::kWantInput);  // after EOF the answer is final
  return 0;
}
