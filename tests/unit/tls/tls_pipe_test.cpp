// l4::TlsPipe: the seam between pool buffers and a server TlsConn, driven by
// an in-memory client. Ciphertext arrives in small and large buffers (records
// split across buffers), plaintext comes out whole, encryption respects the
// wire cap, garbage gives an alert, close_notify, and no pool buffer leaks.

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "proxy/io/buffer_pool.hpp"
#include "proxy/l4/tls_pipe.hpp"
#include "tests/unit/tls/harness.hpp"

using namespace portico;
using namespace portico::tls;
using namespace portico::tls::test;

namespace {

Pki& pki() {
  static Pki p;
  return p;
}

constexpr uint32_t kBufSize = 16 * 1024;

// Cuts what the client has to send into pool buffers of at most `piece` bytes
// and delivers them one by one.
Status feed(io::BufferPool& pool, TlsConn& client, l4::TlsPipe& pipe, io::BufferQueue& plain,
            io::BufferQueue& wire, size_t piece) {
  Status st = Status::kOk;
  for (int i = 0; i < 10000 && client.has_output(); ++i) {
    auto out = client.pending_output();
    size_t n = std::min({out.size(), piece, size_t(kBufSize)});
    io::Buffer* b = pool.acquire_any();
    b->off = 0;
    std::memcpy(b->data, out.data(), n);
    b->len = static_cast<uint32_t>(n);
    client.consume_output(n);
    st = pipe.deliver(pool, b, plain, wire);
    if (st != Status::kOk) break;
  }
  return st;
}

// Moves the pipe's ciphertext to the client, reading what it decrypts into
// *got (the client's input is bounded: it must read to take more).
void to_client(io::BufferPool& pool, io::BufferQueue& wire, TlsConn& client, std::string* got = nullptr) {
  for (int i = 0; i < 10000 && !wire.empty(); ++i) {
    io::Buffer* b = wire.front();
    size_t n = client.on_ciphertext({b->readable(), b->remaining()});
    io::consume(pool, wire, n);
    uint8_t buf[8192];
    for (;;) {
      IoResult r = client.read(buf);
      if (r.status != Status::kOk || r.bytes == 0) break;
      if (got) got->append(reinterpret_cast<const char*>(buf), r.bytes);
    }
  }
  REQUIRE(wire.empty());
}

std::string drain(io::BufferPool& pool, io::BufferQueue& q) {
  std::string s;
  while (!q.empty()) {
    io::Buffer* b = q.pop();
    s.append(reinterpret_cast<const char*>(b->readable()), b->remaining());
    pool.release(b);
  }
  return s;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

}  // namespace

TEST_CASE("TlsPipe: handshake over split buffers, data both ways, wire cap, close_notify, no leaks") {
  io::BufferPool pool(64, kBufSize);
  const uint32_t free_at_start = pool.available();
  Server s(pki().listener());
  REQUIRE(s.ctx);
  Client c(pki().upstream());
  REQUIRE(c.ctx);
  TlsConn client;
  REQUIRE(c.ctx->connect(client, "127.0.0.1:443", "a.example.test"));
  {
    l4::TlsPipe pipe;
    REQUIRE(s.ctx->accept(pipe.conn()));
    io::BufferQueue plain, wire;
    // handshake, the client's flights cut into 7-byte buffers
    for (int round = 0; round < 10 && !(client.handshake_done() && pipe.handshake_done()); ++round) {
      client.handshake();
      REQUIRE(feed(pool, client, pipe, plain, wire, 7) == Status::kOk);
      to_client(pool, wire, client);
    }
    REQUIRE(client.handshake_done());
    REQUIRE(pipe.handshake_done());
    CHECK(pipe.take_handshake_event());
    CHECK_FALSE(pipe.take_handshake_event());
    CHECK(plain.empty());

    // client -> server: 100 KiB, delivered in buffers of up to 16 KiB
    const std::string up = pattern(100 * 1024 + 3);
    size_t off = 0;
    for (int i = 0; i < 1000 && off < up.size(); ++i) {
      IoResult w = client.write({reinterpret_cast<const uint8_t*>(up.data()) + off, up.size() - off});
      REQUIRE(w.status == Status::kOk);
      off += w.bytes;
      REQUIRE(feed(pool, client, pipe, plain, wire, kBufSize) == Status::kOk);
    }
    to_client(pool, wire, client);  // tickets
    CHECK(drain(pool, plain) == up);

    // server -> client: 200 KiB queued as plaintext, encrypted at most ~cap at a time
    const std::string down = pattern(200 * 1024 + 11);
    io::BufferQueue out;
    io::append(pool, out, down.data(), down.size());
    std::string got;
    const size_t cap = 32 * 1024;
    for (int i = 0; i < 100 && (!out.empty() || !wire.empty()); ++i) {
      REQUIRE(pipe.encrypt(pool, out, wire, cap) == Status::kOk);
      CHECK(wire.bytes() < cap + kBufSize + 1024);  // stops once the cap is reached
      to_client(pool, wire, client, &got);
    }
    CHECK(got == down);

    // close_notify
    pipe.shutdown(pool, wire);
    CHECK_FALSE(wire.empty());
    to_client(pool, wire, client);
    uint8_t buf[16];
    CHECK(client.read(buf).status == Status::kClosed);
  }
  CHECK(pool.available() == free_at_start);
}

TEST_CASE("TlsPipe: plain HTTP instead of a ClientHello is an error with an alert to send") {
  io::BufferPool pool(16, kBufSize);
  const uint32_t free_at_start = pool.available();
  Server s(pki().listener());
  REQUIRE(s.ctx);
  {
    l4::TlsPipe pipe;
    REQUIRE(s.ctx->accept(pipe.conn()));
    io::BufferQueue plain, wire;
    io::Buffer* b = pool.acquire_any();
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    std::memcpy(b->data, req, sizeof req - 1);
    b->off = 0;
    b->len = sizeof req - 1;
    CHECK(pipe.deliver(pool, b, plain, wire) == Status::kError);
    CHECK(plain.empty());
    CHECK_FALSE(pipe.handshake_done());
    CHECK(pipe.conn().error().kind == ErrorKind::kProtocol);
    drain(pool, wire);
  }
  CHECK(pool.available() == free_at_start);
}

TEST_CASE("TlsPipe: EOF during the handshake is an error, after close_notify it is a clean end") {
  io::BufferPool pool(16, kBufSize);
  Server s(pki().listener());
  REQUIRE(s.ctx);
  l4::TlsPipe pipe;
  REQUIRE(s.ctx->accept(pipe.conn()));
  io::BufferQueue plain, wire;
  CHECK(pipe.on_eof(pool, plain, wire) == Status::kError);
  drain(pool, wire);
}

namespace {

// Runs a client's handshake against the pipe; the pipe's status at the end.
Status pipe_handshake(io::BufferPool& pool, TlsConn& client, l4::TlsPipe& pipe) {
  io::BufferQueue plain, wire;
  Status st = Status::kOk;
  for (int round = 0; round < 10 && !(client.handshake_done() && pipe.handshake_done()); ++round) {
    if (client.handshake() == Status::kError) break;
    st = feed(pool, client, pipe, plain, wire, kBufSize);
    to_client(pool, wire, client);
    if (st != Status::kOk) break;
  }
  drain(pool, plain);
  return st;
}

// The server's first response bytes; the client reads them (and with them,
// on TLS 1.3, the session tickets that BoringSSL holds back until then).
void respond(io::BufferPool& pool, TlsConn& client, l4::TlsPipe& pipe) {
  io::BufferQueue out, wire;
  io::append(pool, out, "ok", 2);
  REQUIRE(pipe.encrypt(pool, out, wire, 1 << 20) == Status::kOk);
  std::string got;
  to_client(pool, wire, client, &got);
  CHECK(got == "ok");
}

uint64_t handshakes(const l4::TlsListenerStats& s, bool tls13, bool resumed) {
  return s.handshakes[l4::TlsListenerStats::handshake_index(tls13, resumed)].get();
}
uint64_t failures(const l4::TlsListenerStats& s, HandshakeFailure f) {
  return s.failures[static_cast<size_t>(f)].get();
}
uint64_t all_failures(const l4::TlsListenerStats& s) {
  uint64_t n = 0;
  for (const auto& c : s.failures) n += c.get();
  return n;
}

}  // namespace

TEST_CASE("TlsPipe counts each handshake once: version, resumption") {
  io::BufferPool pool(64, kBufSize);
  Server s(pki().listener());
  REQUIRE(s.ctx);
  l4::TlsListenerStats stats;
  for (uint16_t max : {uint16_t(TLS1_3_VERSION), uint16_t(TLS1_2_VERSION)}) {
    ClientOptions o;
    o.max_version = max;
    Client c(pki().upstream(), o);  // its session cache makes the second connection resume
    REQUIRE(c.ctx);
    const bool tls13 = max == TLS1_3_VERSION;
    for (bool resumed : {false, true}) {
      CAPTURE(tls13);
      CAPTURE(resumed);
      TlsConn client;
      REQUIRE(c.ctx->connect(client, "127.0.0.1:443", "a.example.test"));
      l4::TlsPipe pipe(&stats);
      REQUIRE(s.ctx->accept(pipe.conn()));
      CHECK(pipe_handshake(pool, client, pipe) == Status::kOk);
      REQUIRE(pipe.handshake_done());
      CHECK(pipe.conn().resumed() == resumed);
      CHECK(handshakes(stats, tls13, resumed) == 1);
      pipe.handshake_timed_out();  // after completion: not a failure
      respond(pool, client, pipe);
    }
  }
  CHECK(all_failures(stats) == 0);
}

TEST_CASE("TlsPipe: TLS 1.3 session tickets leave with the first response bytes, not alone") {
  io::BufferPool pool(64, kBufSize);
  Server s(pki().listener());
  REQUIRE(s.ctx);
  ClientOptions o;
  o.max_version = TLS1_3_VERSION;
  Client c(pki().upstream(), o);
  REQUIRE(c.ctx);
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    TlsConn client;
    REQUIRE(c.ctx->connect(client, "127.0.0.1:443", "a.example.test"));
    l4::TlsPipe pipe;
    REQUIRE(s.ctx->accept(pipe.conn()));
    io::BufferQueue plain, wire;
    for (int i = 0; i < 10 && !(client.handshake_done() && pipe.handshake_done()); ++i) {
      REQUIRE(client.handshake() != Status::kError);
      REQUIRE(feed(pool, client, pipe, plain, wire, kBufSize) == Status::kOk);
      to_client(pool, wire, client);
    }
    REQUIRE(pipe.handshake_done());
    CHECK(client.resumed() == (round == 1));  // round 0's tickets came with its response
    // The client's request: nothing goes back for it on its own.
    const char req[] = "GET / HTTP/1.1\r\n\r\n";
    REQUIRE(client.write({reinterpret_cast<const uint8_t*>(req), sizeof req - 1}).status == Status::kOk);
    REQUIRE(feed(pool, client, pipe, plain, wire, kBufSize) == Status::kOk);
    CHECK(drain(pool, plain) == req);
    CHECK(wire.empty());
    // The response: the tickets (two records of well over 100 bytes) and the
    // 2-byte record (22 bytes) come out together.
    io::BufferQueue out;
    io::append(pool, out, "ok", 2);
    REQUIRE(pipe.encrypt(pool, out, wire, 1 << 20) == Status::kOk);
    CHECK(wire.bytes() > 200);
    std::string got;
    to_client(pool, wire, client, &got);
    CHECK(got == "ok");
    // Nothing more is held back.
    REQUIRE(pipe.conn().write({}).status == Status::kOk);
    CHECK_FALSE(pipe.conn().has_output());
  }
  CHECK(pool.available() == pool.count());
}

TEST_CASE("TlsPipe counts failures by reason, once, and nothing for a silent probe") {
  io::BufferPool pool(16, kBufSize);
  Server s(pki().listener());
  REQUIRE(s.ctx);
  l4::TlsListenerStats stats;
  auto fresh = [&](l4::TlsPipe& p) { REQUIRE(s.ctx->accept(p.conn())); };
  auto deliver = [&](l4::TlsPipe& p, std::string_view bytes) {
    io::BufferQueue plain, wire;
    io::Buffer* b = pool.acquire_any();
    std::memcpy(b->data, bytes.data(), bytes.size());
    b->off = 0;
    b->len = static_cast<uint32_t>(bytes.size());
    Status st = p.deliver(pool, b, plain, wire);
    drain(pool, plain);
    drain(pool, wire);
    return st;
  };

  SUBCASE("plain HTTP is a protocol error, counted once") {
    {
      l4::TlsPipe pipe(&stats);
      fresh(pipe);
      CHECK(deliver(pipe, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") == Status::kError);
      pipe.handshake_timed_out();  // already counted
    }
    CHECK(failures(stats, HandshakeFailure::kProtocolError) == 1);
    CHECK(all_failures(stats) == 1);
  }
  SUBCASE("timeout") {
    {
      l4::TlsPipe pipe(&stats);
      fresh(pipe);
      pipe.handshake_timed_out();
      pipe.handshake_timed_out();
    }
    CHECK(failures(stats, HandshakeFailure::kTimeout) == 1);
    CHECK(all_failures(stats) == 1);
  }
  SUBCASE("part of a ClientHello then the end: closed (EOF or destroyed)") {
    const std::string partial("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    {
      l4::TlsPipe pipe(&stats);
      fresh(pipe);
      CHECK(deliver(pipe, partial) == Status::kOk);
      io::BufferQueue plain, wire;
      CHECK(pipe.on_eof(pool, plain, wire) == Status::kError);
      drain(pool, wire);
    }
    {
      l4::TlsPipe pipe(&stats);  // reset by the client: the owner just destroys the pipe
      fresh(pipe);
      CHECK(deliver(pipe, partial) == Status::kOk);
    }
    CHECK(failures(stats, HandshakeFailure::kClosed) == 2);
    CHECK(all_failures(stats) == 2);
  }
  SUBCASE("a client that sends nothing and closes counts nothing") {
    {
      l4::TlsPipe pipe(&stats);
      fresh(pipe);
      io::BufferQueue plain, wire;
      CHECK(pipe.on_eof(pool, plain, wire) == Status::kError);
      drain(pool, wire);
    }
    {
      l4::TlsPipe pipe(&stats);
      fresh(pipe);
    }
    CHECK(all_failures(stats) == 0);
  }
  SUBCASE("a TLS 1.2 client on a 1.3-only listener: unsupported_version") {
    conf::ListenerTls t = pki().listener();
    t.min_version = "1.3";
    Server strict(t);
    REQUIRE(strict.ctx);
    ClientOptions o;
    o.max_version = TLS1_2_VERSION;
    Client c(pki().upstream(), o);
    REQUIRE(c.ctx);
    TlsConn client;
    REQUIRE(c.ctx->connect(client, "127.0.0.1:443", "a.example.test"));
    {
      l4::TlsPipe pipe(&stats);
      REQUIRE(strict.ctx->accept(pipe.conn()));
      CHECK(pipe_handshake(pool, client, pipe) == Status::kError);
    }
    CHECK(failures(stats, HandshakeFailure::kUnsupportedVersion) == 1);
    CHECK(all_failures(stats) == 1);
  }
  SUBCASE("a client that does not trust the certificate: peer_alert") {
    conf::UpstreamTls u = pki().upstream();
    u.ca = pki().dir.file("other_ca.pem");
    Client c(u);
    REQUIRE(c.ctx);
    TlsConn client;
    REQUIRE(c.ctx->connect(client, "127.0.0.1:443", "a.example.test"));
    {
      l4::TlsPipe pipe(&stats);
      fresh(pipe);
      io::BufferQueue plain, wire;
      for (int round = 0; round < 10; ++round) {
        Status cs = client.handshake();
        Status ps = feed(pool, client, pipe, plain, wire, kBufSize);
        to_client(pool, wire, client);
        if (ps == Status::kError) break;
        (void)cs;
      }
      drain(pool, plain);
    }
    CHECK(failures(stats, HandshakeFailure::kPeerAlert) == 1);
    CHECK(all_failures(stats) == 1);
  }
}

TEST_CASE("classify_failure maps BoringSSL errors onto the fixed reasons") {
  CHECK(classify_failure({ErrorKind::kTruncated, "", 0}) == HandshakeFailure::kClosed);
  CHECK(classify_failure({ErrorKind::kVerify, "", 0}) == HandshakeFailure::kClientCertificate);
  CHECK(classify_failure({ErrorKind::kInternal, "", 0}) == HandshakeFailure::kOther);
  auto ssl = [](int reason) { return static_cast<uint32_t>(ERR_PACK(ERR_LIB_SSL, reason)); };
  CHECK(classify_failure({ErrorKind::kProtocol, "", ssl(SSL_R_UNSUPPORTED_PROTOCOL)}) ==
        HandshakeFailure::kUnsupportedVersion);
  CHECK(classify_failure({ErrorKind::kProtocol, "", ssl(SSL_R_NO_SHARED_CIPHER)}) ==
        HandshakeFailure::kNoSharedCipher);
  CHECK(classify_failure({ErrorKind::kProtocol, "", ssl(SSL_R_NO_SHARED_GROUP)}) ==
        HandshakeFailure::kNoSharedCipher);
  CHECK(classify_failure({ErrorKind::kProtocol, "", ssl(SSL_R_WRONG_VERSION_NUMBER)}) ==
        HandshakeFailure::kProtocolError);
  CHECK(classify_failure({ErrorKind::kProtocol, "", ssl(SSL_R_HTTP_REQUEST)}) == HandshakeFailure::kProtocolError);
  CHECK(classify_failure({ErrorKind::kPeerAlert, "", ssl(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)}) ==
        HandshakeFailure::kUnsupportedVersion);
  CHECK(classify_failure({ErrorKind::kPeerAlert, "", ssl(SSL_R_TLSV1_ALERT_UNKNOWN_CA)}) ==
        HandshakeFailure::kPeerAlert);
  for (size_t i = 0; i < kHandshakeFailureCount; ++i)
    CHECK(std::string(failure_name(static_cast<HandshakeFailure>(i))) != "");
  CHECK(std::string(failure_name(HandshakeFailure::kOther)) == "other");
}
