// Session resumption: tickets shared by workers, key rotation, the per-worker
// TLS 1.2 session cache, and TicketKeys itself.

#include <doctest/doctest.h>

#include <thread>

#include "tests/unit/tls/harness.hpp"

using namespace portico;
using namespace portico::tls;
using namespace portico::tls::test;

namespace {

Pki& pki() {
  static Pki p;
  return p;
}

ClientOptions max_version(uint16_t v) {
  ClientOptions o;
  o.max_version = v;
  return o;
}

// Handshakes once; returns whether the server saw a resumption.
bool connect_once(Client& c, Server& s, bool* client_resumed = nullptr) {
  Pair p(c, s, "a.example.test");
  if (!handshake(p.client, p.server).ok()) return false;
  if (client_resumed) *client_resumed = p.client.resumed();
  return p.server.resumed();
}

}  // namespace

TEST_CASE("TicketKeys: rotation moves current to previous; snapshots are consistent") {
  TicketKeys k(std::chrono::hours(1));
  TicketKeys::Key cur{}, prev{}, cur2{}, prev2{};
  bool has_prev = true;
  REQUIRE(k.snapshot(&cur, &prev, &has_prev));
  CHECK_FALSE(has_prev);
  CHECK(k.generation() == 0);
  k.rotate();
  REQUIRE(k.snapshot(&cur2, &prev2, &has_prev));
  CHECK(has_prev);
  CHECK(prev2.name == cur.name);
  CHECK(prev2.aes == cur.aes);
  CHECK(cur2.name != cur.name);
  CHECK(cur2.hmac != cur.hmac);
  CHECK(k.generation() == 1);

  auto now = std::chrono::steady_clock::now();
  CHECK_FALSE(k.rotate_if_due(now));
  CHECK(k.rotate_if_due(now + std::chrono::hours(2)));
  CHECK(k.generation() == 2);
}

TEST_CASE("TicketKeys: readers never see a torn key while the main thread rotates") {
  TicketKeys k(std::chrono::minutes(1));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) k.rotate();
    stop = true;
  });
  int reads = 0;
  bool torn = false;
  while ((!stop.load() || reads == 0) && reads < 1000000) {  // at least one read, even on a loaded machine
    TicketKeys::Key cur, prev;
    bool has_prev;
    if (!k.snapshot(&cur, &prev, &has_prev)) continue;
    ++reads;
    // current and previous were written together; they always differ.
    if (has_prev && cur.name == prev.name) torn = true;
  }
  writer.join();
  CHECK_FALSE(torn);
  CHECK(reads > 0);
}

TEST_CASE("TLS 1.3: the second handshake resumes with a ticket, on any worker of the listener") {
  Server worker0(pki().listener());
  Server worker1(pki().listener(), worker0.keys);  // same listener, another worker
  Client c(pki().upstream());
  bool client_resumed = true;
  CHECK_FALSE(connect_once(c, worker0, &client_resumed));
  CHECK_FALSE(client_resumed);
  CHECK(c.ctx->cached_sessions() == 1);
  CHECK(connect_once(c, worker0, &client_resumed));
  CHECK(client_resumed);
  CHECK(connect_once(c, worker1));  // another worker: same ticket keys
  Server other(pki().listener());   // another listener: its own keys
  CHECK_FALSE(connect_once(c, other));
}

TEST_CASE("TLS 1.2 resumes with a ticket too") {
  Server s(pki().listener());
  Client c(pki().upstream(), max_version(TLS1_2_VERSION));
  CHECK_FALSE(connect_once(c, s));
  CHECK(connect_once(c, s));
}

TEST_CASE("ticket rotation: the previous key still decrypts, the one before does not") {
  Server s(pki().listener());
  Client early(pki().upstream());  // ticket under K1, first used after two rotations
  Client regular(pki().upstream());
  CHECK_FALSE(connect_once(early, s));
  CHECK_FALSE(connect_once(regular, s));

  s.keys->rotate();  // K2 current, K1 previous
  CHECK(connect_once(regular, s));  // K1 ticket decrypts; a K2 ticket is issued

  s.keys->rotate();  // K3 current, K2 previous; K1 gone
  CHECK_FALSE(connect_once(early, s));  // K1 ticket refused: full handshake
  CHECK(connect_once(regular, s));       // renewed K2 ticket still resumes
  CHECK(connect_once(early, s));         // and early got a fresh K3 ticket
}

TEST_CASE("resumption needs the same certificates and client-auth settings") {
  Server a(pki().listener());
  conf::ListenerTls t = pki().listener();
  t.client_ca = pki().dir.file("client_ca.pem");
  t.client_auth = conf::ClientAuth::kOptional;
  Server b(t, a.keys);  // same ticket keys, different session context
  Client c(pki().upstream());
  CHECK_FALSE(connect_once(c, a));
  CHECK(connect_once(c, a));
  CHECK_FALSE(connect_once(c, b));
}

TEST_CASE("without tickets, TLS 1.2 resumes from the per-worker session cache only") {
  conf::ListenerTls t = pki().listener();
  t.session_tickets = false;
  Server worker0(t);
  Server worker1(t, worker0.keys);
  Client c(pki().upstream(), max_version(TLS1_2_VERSION));
  CHECK_FALSE(connect_once(c, worker0));
  CHECK(connect_once(c, worker0));        // session ID found in worker0's cache
  CHECK_FALSE(connect_once(c, worker1));  // not in worker1's
}

TEST_CASE("session_tickets: false disables TLS 1.3 resumption") {
  conf::ListenerTls t = pki().listener();
  t.session_tickets = false;
  Server s(t);
  Client c(pki().upstream());
  CHECK_FALSE(connect_once(c, s));
  CHECK_FALSE(connect_once(c, s));
}
