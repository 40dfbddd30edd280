// TlsConn: handshakes pumped in memory, versions, ALPN, data, close_notify,
// bounded buffers, garbage input.

#include <doctest/doctest.h>
#include <openssl/err.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "tests/unit/tls/harness.hpp"

using namespace portico;
using namespace portico::tls;
using namespace portico::tls::test;

namespace {

Pki& pki() {
  static Pki p;
  return p;
}

ClientOptions opts(uint16_t max_version = TLS1_3_VERSION, std::vector<std::string> alpn = {}) {
  ClientOptions o;
  o.max_version = max_version;
  o.min_version = TLS1_VERSION;
  o.alpn = std::move(alpn);
  return o;
}

}  // namespace

TEST_CASE("TLS 1.3 handshake in memory, data both ways, close_notify ends the stream") {
  Server s(pki().listener());
  REQUIRE(s.ctx);
  Client c(pki().upstream(), opts(TLS1_3_VERSION, {"http/1.1"}));
  REQUIRE(c.ctx);
  Pair p(c, s, "a.example.test");
  REQUIRE(p.started);
  CHECK_FALSE(p.server.handshake_done());
  REQUIRE(handshake(p.client, p.server).ok());
  CHECK(p.server.handshake_done());
  CHECK(p.server.version() == TLS1_3_VERSION);
  CHECK(p.client.version() == TLS1_3_VERSION);
  CHECK(std::string(p.server.version_name()) == "TLSv1.3");
  CHECK(p.server.alpn() == "http/1.1");
  CHECK(p.client.alpn() == "http/1.1");
  CHECK(p.server.sni() == "a.example.test");
  CHECK_FALSE(p.server.resumed());
  CHECK(p.client.peer_subject() == "CN=a.example.test");
  CHECK(p.server.peer_subject().empty());  // no client certificate asked for

  CHECK(send_through(p.client, p.server, "GET / HTTP/1.1\r\n\r\n") == "GET / HTTP/1.1\r\n\r\n");
  CHECK(send_through(p.server, p.client, "HTTP/1.1 200 OK\r\n\r\n") == "HTTP/1.1 200 OK\r\n\r\n");

  p.client.shutdown();
  CHECK(p.client.has_output());
  transfer(p.client, p.server);
  uint8_t buf[16];
  CHECK(p.server.read(buf).status == Status::kClosed);
  CHECK(p.server.close_notify_received());
  CHECK(p.server.read(buf).status == Status::kClosed);  // stays closed
  p.server.shutdown();
  transfer(p.server, p.client);
  CHECK(p.client.read(buf).status == Status::kClosed);
}

TEST_CASE("a client limited to TLS 1.2 negotiates 1.2 with an ECDHE AEAD suite") {
  Server s(pki().listener());
  Client c(pki().upstream(), opts(TLS1_2_VERSION, {"http/1.1"}));
  Pair p(c, s, "a.example.test");
  REQUIRE(handshake(p.client, p.server).ok());
  CHECK(p.server.version() == TLS1_2_VERSION);
  CHECK(std::string(SSL_get_cipher_name(p.server.native())).find("ECDHE") == 0);
  CHECK(p.server.alpn() == "http/1.1");
  CHECK(send_through(p.client, p.server, "ping") == "ping");
}

TEST_CASE("min_version refuses older clients with a protocol error on both sides") {
  SUBCASE("min 1.2 refuses a TLS 1.1 client") {
    Server s(pki().listener());
    Client c(pki().upstream(), opts(TLS1_1_VERSION));
    Pair p(c, s, "a.example.test");
    HandshakeResult r = handshake(p.client, p.server);
    CHECK(r.server == Status::kError);
    CHECK(p.server.error().kind == ErrorKind::kProtocol);
    CHECK(std::string(p.server.error().reason) == "UNSUPPORTED_PROTOCOL");
    CHECK(r.client == Status::kError);
    CHECK(p.client.error().kind == ErrorKind::kPeerAlert);
  }
  SUBCASE("min 1.3 refuses a TLS 1.2 client, accepts a 1.3 one") {
    conf::ListenerTls t = pki().listener();
    t.min_version = "1.3";
    Server s(t);
    Client c12(pki().upstream(), opts(TLS1_2_VERSION));
    Pair p(c12, s, "a.example.test");
    HandshakeResult r = handshake(p.client, p.server);
    CHECK(r.server == Status::kError);
    CHECK(p.server.error().kind == ErrorKind::kProtocol);
    CHECK(p.client.error().kind == ErrorKind::kPeerAlert);
    Client c13(pki().upstream(), opts(TLS1_3_VERSION));
    Pair q(c13, s, "a.example.test");
    CHECK(handshake(q.client, q.server).ok());
  }
}

TEST_CASE("ALPN: the first configured protocol the client offers; none without overlap") {
  conf::ListenerTls t = pki().listener();
  t.alpn = {"http/1.1", "h2x"};
  Server s(t);
  SUBCASE("client order does not matter") {
    Client c(pki().upstream(), opts(TLS1_3_VERSION, {"h2x", "http/1.1"}));
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
    CHECK(p.server.alpn() == "http/1.1");
  }
  SUBCASE("only the second one offered") {
    Client c(pki().upstream(), opts(TLS1_3_VERSION, {"h2x"}));
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
    CHECK(p.server.alpn() == "h2x");
  }
  SUBCASE("no overlap: the handshake goes on without ALPN") {
    Client c(pki().upstream(), opts(TLS1_3_VERSION, {"h2"}));
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
    CHECK(p.server.alpn().empty());
    CHECK(p.client.alpn().empty());
  }
  SUBCASE("client without ALPN") {
    Client c(pki().upstream(), opts(TLS1_3_VERSION, {}));
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
    CHECK(p.server.alpn().empty());
  }
}

TEST_CASE("large transfers stay within the configured buffer bounds and arrive intact") {
  Server s(pki().listener());
  Client c(pki().upstream());
  Pair p(c, s, "a.example.test");
  REQUIRE(handshake(p.client, p.server).ok());
  std::string big(1 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& ch : big) ch = static_cast<char>(rng());

  // write() accepts no more than max_output (64 KiB) of pending ciphertext.
  IoResult w = p.client.write({reinterpret_cast<const uint8_t*>(big.data()), big.size()});
  CHECK(w.status == Status::kOk);
  CHECK(w.bytes > 0);
  CHECK(w.bytes <= 64 * 1024);
  CHECK(p.client.pending_output().size() <= 64 * 1024 + 1024);
  IoResult w2 = p.client.write({reinterpret_cast<const uint8_t*>(big.data()), big.size()});
  CHECK(w2.status == Status::kOk);
  CHECK(w2.bytes <= 1024);  // full: send first
  // on_ciphertext() takes no more than max_input (32 KiB).
  size_t taken = p.server.on_ciphertext(p.client.pending_output());
  CHECK(taken == 32 * 1024);
  CHECK(p.server.on_ciphertext(p.client.pending_output().subspan(taken)) == 0);
  p.client.consume_output(taken);
  std::string got;
  uint8_t buf[16384];
  auto drain = [&] {
    for (int i = 0; i < 100; ++i) {
      IoResult r = p.server.read(buf);
      if (r.status != Status::kOk) break;
      got.append(reinterpret_cast<const char*>(buf), r.bytes);
    }
  };
  drain();
  for (int i = 0; i < 10 && p.client.has_output(); ++i) {
    transfer(p.client, p.server);
    drain();
  }
  CHECK(got == big.substr(0, w.bytes + w2.bytes));
  // the rest through the pump
  std::string rest = big.substr(w.bytes + w2.bytes);
  CHECK(send_through(p.client, p.server, rest) == rest);
  CHECK(p.server.buffered_input() == 0);
  CHECK(p.server.buffer_capacity() == 0);  // queues freed once drained
  CHECK(p.client.buffer_capacity() == 0);
}

TEST_CASE("garbage instead of a ClientHello is a protocol error, never a crash") {
  Server s(pki().listener());
  SUBCASE("plain HTTP on the TLS port") {
    TlsConn conn;
    REQUIRE(s.ctx->accept(conn));
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    conn.on_ciphertext({reinterpret_cast<const uint8_t*>(req.data()), req.size()});
    CHECK(conn.handshake() == Status::kError);
    CHECK(conn.error().kind == ErrorKind::kProtocol);
    CHECK(std::string(conn.error().reason).size() > 0);
    // further calls keep reporting the error
    uint8_t buf[8];
    CHECK(conn.read(buf).status == Status::kError);
    CHECK(conn.write(buf).status == Status::kError);
  }
  SUBCASE("random bytes, many seeds") {
    std::mt19937 rng(42);
    int errors = 0, waiting = 0;
    for (int i = 0; i < 300; ++i) {
      TlsConn conn;
      REQUIRE(s.ctx->accept(conn));
      std::vector<uint8_t> junk(1 + rng() % 600);
      for (auto& b : junk) b = static_cast<uint8_t>(rng());
      if (i % 2) junk[0] = 0x16;  // looks like a handshake record
      conn.on_ciphertext(junk);
      Status st = conn.handshake();
      if (st == Status::kError) ++errors; else if (st == Status::kWantInput) ++waiting;
      CHECK(st != Status::kOk);
    }
    CHECK(errors > 100);
  }
  SUBCASE("a truncated ClientHello then EOF is a truncation error") {
    Client c(pki().upstream());
    Pair p(c, s, "a.example.test");
    CHECK(p.client.handshake() == Status::kWantInput);
    auto hello = p.client.pending_output();
    REQUIRE(hello.size() > 20);
    p.server.on_ciphertext(hello.subspan(0, 20));
    CHECK(p.server.handshake() == Status::kWantInput);
    p.server.on_eof();
    CHECK(p.server.handshake() == Status::kError);
    CHECK(p.server.error().kind == ErrorKind::kTruncated);
  }
}

TEST_CASE("EOF without close_notify after the handshake reads as truncation") {
  Server s(pki().listener());
  Client c(pki().upstream());
  Pair p(c, s, "a.example.test");
  REQUIRE(handshake(p.client, p.server).ok());
  p.server.on_eof();
  uint8_t buf[8];
  IoResult r = p.server.read(buf);
  CHECK(r.status == Status::kError);
  CHECK(p.server.error().kind == ErrorKind::kTruncated);
}

TEST_CASE("a stale error in the thread's queue does not fail a handshake, a read or a write") {
  // TlsConn relies on SSL_do_handshake/SSL_read/SSL_write clearing the queue
  // themselves and does not clear it before them.
  Server s(pki().listener());
  Client c(pki().upstream());
  Pair p(c, s, "a.example.test");
  OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
  CHECK(p.server.handshake() == Status::kWantInput);
  OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
  REQUIRE(handshake(p.client, p.server).ok());
  uint8_t buf[8];
  OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
  CHECK(p.server.read(buf).status == Status::kWantInput);
  OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
  CHECK(p.server.write({reinterpret_cast<const uint8_t*>("x"), 1}).status == Status::kOk);
  OPENSSL_PUT_ERROR(SSL, ERR_R_INTERNAL_ERROR);
  CHECK(send_through(p.server, p.client, "ok") == "xok");
  CHECK_FALSE(p.server.error());
  CHECK_FALSE(p.client.error());
  ERR_clear_error();
}

TEST_CASE("a TlsConn can be reset and reused") {
  Server s(pki().listener());
  Client c(pki().upstream());
  TlsConn client, server;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(c.ctx->connect(client, "127.0.0.1:443", "a.example.test"));
    REQUIRE(s.ctx->accept(server));
    CHECK(handshake(client, server).ok());
    client.reset();
    server.reset();
    CHECK_FALSE(server.active());
  }
}

TEST_CASE("ByteQueue: bounded appends, FIFO order, the block is freed when empty") {
  ByteQueue q;
  CHECK(q.capacity() == 0);
  std::string a(3000, 'a'), b(3000, 'b');
  CHECK(q.append(reinterpret_cast<const uint8_t*>(a.data()), a.size(), 5000) == 3000);
  CHECK(q.append(reinterpret_cast<const uint8_t*>(b.data()), b.size(), 5000) == 2000);  // limit
  CHECK(q.append(reinterpret_cast<const uint8_t*>(b.data()), 1, 5000) == 0);            // full
  CHECK(q.size() == 5000);
  CHECK(q.capacity() <= 5000);
  uint8_t out[2500];
  CHECK(q.take(out, sizeof out) == 2500);
  CHECK(std::string(reinterpret_cast<char*>(out), 2500) == std::string(2500, 'a'));
  // room again: the live bytes move to the front rather than the block growing
  CHECK(q.append(reinterpret_cast<const uint8_t*>(b.data()), 2500, 5000) == 2500);
  CHECK(q.capacity() <= 5000);
  CHECK(q.front().size() == 5000);
  CHECK(q.front()[0] == 'a');
  CHECK(q.front()[500] == 'b');
  q.consume(5000);
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
}

TEST_CASE("ByteQueue: a queue that empties and refills reuses its thread's cached block") {
  namespace bc = portico::tls::block_cache;
  // Empty this thread's cache first (blocks given back by earlier cases).
  std::vector<void*> drained;
  for (size_t i = 0; i < bc::kCachedBlocks; ++i) drained.push_back(bc::take(ByteQueue::kMinBlock));
  for (void* p : drained) bc::give(p, ByteQueue::kMinBlock);  // the cache is now full

  const uint8_t byte = 'x';
  ByteQueue q;
  q.append(&byte, 1, 1 << 20);
  CHECK(q.capacity() == ByteQueue::kMinBlock);
  const uint8_t* block = q.front().data();
  CHECK(block == drained.back());  // the most recently given block comes back first
  q.consume(1);                    // back to the cache
  q.append(&byte, 1, 1 << 20);
  CHECK(q.front().data() == block);
  q.consume(1);

  // Bounded: a give beyond kCachedBlocks frees instead of caching.
  void* extra = bc::take(ByteQueue::kMinBlock);  // from the cache
  void* fresh = bc::take(ByteQueue::kMinBlock);  // from the cache too
  bc::give(extra, ByteQueue::kMinBlock);
  bc::give(fresh, ByteQueue::kMinBlock);         // cache full again
  void* overflow = std::malloc(ByteQueue::kMinBlock);
  bc::give(overflow, ByteQueue::kMinBlock);      // freed (ASan would flag a leak otherwise)
  // Other sizes never enter the cache.
  void* big = bc::take(2 * ByteQueue::kMinBlock);
  REQUIRE(big != nullptr);
  bc::give(big, 2 * ByteQueue::kMinBlock);
  bc::give(nullptr, ByteQueue::kMinBlock);       // a no-op
}
