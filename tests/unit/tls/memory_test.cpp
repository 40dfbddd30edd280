// Memory held by idle TLS connections: N server connections after their
// handshake, measured with glibc's in-use heap counter (mallinfo2).

#include <doctest/doctest.h>
#include <malloc.h>

#include <sstream>

#include "tests/unit/tls/harness.hpp"

using namespace portico;
using namespace portico::tls;
using namespace portico::tls::test;

#if defined(__SANITIZE_ADDRESS__)
#define PORTICO_HEAP_MEASURABLE 0  // ASan replaces malloc: mallinfo2 says nothing useful
#else
#define PORTICO_HEAP_MEASURABLE 1
#endif

namespace {

Pki& pki() {
  static Pki p;
  return p;
}

size_t heap_in_use() { return mallinfo2().uordblks; }

// Bytes of heap per idle server connection after a full or resumed handshake.
double idle_bytes_per_server_conn(Server& s, Client& c, bool resume, int n) {
  if (resume) {  // prime the client's session cache
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
  }
  std::vector<std::unique_ptr<TlsConn>> servers;
  servers.reserve(n);
  size_t before = heap_in_use();
  for (int i = 0; i < n; ++i) {
    auto client = std::make_unique<TlsConn>();
    servers.push_back(std::make_unique<TlsConn>());
    REQUIRE(c.ctx->connect(*client, "127.0.0.1:443", "a.example.test"));
    REQUIRE(s.ctx->accept(*servers.back()));
    REQUIRE(handshake(*client, *servers.back()).ok());
    CHECK(servers.back()->resumed() == resume);
    // a request and a response, then idle
    CHECK(send_through(*client, *servers.back(), "GET / HTTP/1.1\r\n\r\n").size() == 18);
    CHECK(send_through(*servers.back(), *client, std::string(3000, 'x')).size() == 3000);
    CHECK(servers.back()->buffer_capacity() == 0);
  }  // clients freed here; the servers stay
  size_t after = heap_in_use();
  double per = (static_cast<double>(after) - static_cast<double>(before)) / n;
  std::ostringstream msg;
  msg << "idle server TLS connection: " << per << " bytes of heap ("
      << (resume ? "resumed" : "full") << " handshake, " << servers.front()->version_name() << ")";
  MESSAGE(msg.str());
  return per;
}

}  // namespace

TEST_CASE("an idle TLS server connection holds at most 8 KiB of heap") {
  if (!PORTICO_HEAP_MEASURABLE) {
    MESSAGE("skipped under AddressSanitizer");
    return;
  }
  constexpr int kConns = 200;
  Server s(pki().listener());
  REQUIRE(s.ctx);
  ClientOptions no_reuse;
  no_reuse.session_cache_size = 0;
  SUBCASE("TLS 1.3, full handshake") {
    Client c(pki().upstream(), no_reuse);
    CHECK(idle_bytes_per_server_conn(s, c, false, kConns) <= 8 * 1024);
  }
  SUBCASE("TLS 1.3, resumed") {
    Client c(pki().upstream());
    CHECK(idle_bytes_per_server_conn(s, c, true, kConns) <= 8 * 1024);
  }
  SUBCASE("TLS 1.2, full handshake") {
    ClientOptions o = no_reuse;
    o.max_version = TLS1_2_VERSION;
    Client c(pki().upstream(), o);
    CHECK(idle_bytes_per_server_conn(s, c, false, kConns) <= 8 * 1024);
  }
}
