// ClientContext: upstream certificate verification, SNI, mutual TLS and the
// per-endpoint session cache.

#include <doctest/doctest.h>

#include "tests/unit/tls/harness.hpp"

using namespace portico;
using namespace portico::tls;
using namespace portico::tls::test;

namespace {

Pki& pki() {
  static Pki p;
  return p;
}

struct Outcome {
  HandshakeResult r;
  TlsError client_error;
  std::string server_sni;
};

Outcome attempt(Client& c, Server& s, const std::string& host, const std::string& endpoint = "10.0.0.1:443") {
  Pair p(c, s, host, endpoint);
  Outcome o;
  if (!p.started) {
    o.client_error = p.client.error();
    o.r.client = Status::kError;
    return o;
  }
  o.r = handshake(p.client, p.server);
  o.client_error = p.client.error();
  o.server_sni = std::string(p.server.sni());
  return o;
}

}  // namespace

TEST_CASE("upstream verification: right CA and name pass, wrong CA or wrong name fail") {
  Server s(pki().listener({"ip", "exact"}));  // "ip" serves clients without SNI
  SUBCASE("right CA, right name") {
    Client c(pki().upstream());
    Outcome o = attempt(c, s, "a.example.test");
    CHECK(o.r.ok());
    CHECK(o.server_sni == "a.example.test");
  }
  SUBCASE("wrong CA") {
    conf::UpstreamTls u = pki().upstream();
    u.ca = pki().dir.file("other_ca.pem");
    Client c(u);
    Outcome o = attempt(c, s, "a.example.test");
    CHECK(o.r.client == Status::kError);
    CHECK(o.client_error.kind == ErrorKind::kVerify);
    INFO(std::string(o.client_error.reason));
    CHECK(std::string(o.client_error.reason).find("certificate") != std::string::npos);
  }
  SUBCASE("wrong name") {
    Client c(pki().upstream());
    Outcome o = attempt(c, s, "c.example.test");
    CHECK(o.r.client == Status::kError);
    CHECK(o.client_error.kind == ErrorKind::kVerify);
    INFO(std::string(o.client_error.reason));
    CHECK(std::string(o.client_error.reason).find("mismatch") != std::string::npos);
  }
  SUBCASE("the configured sni overrides the host, for SNI and verification") {
    conf::UpstreamTls u = pki().upstream();
    u.sni = "b.example.test";
    Client c(u);
    Outcome o = attempt(c, s, "c.example.test");
    CHECK(o.r.ok());
    CHECK(o.server_sni == "b.example.test");
  }
  SUBCASE("an IP literal is verified against iPAddress SANs and not sent as SNI") {
    Client c(pki().upstream());
    Outcome o = attempt(c, s, "127.0.0.1");
    INFO(std::string(o.client_error.reason));
    CHECK(o.r.ok());
    CHECK(o.server_sni.empty());
    Outcome bad = attempt(c, s, "127.0.0.2");
    CHECK(bad.client_error.kind == ErrorKind::kVerify);
  }
  SUBCASE("verify: false accepts any certificate") {
    conf::UpstreamTls u = pki().upstream(/*verify=*/false);
    u.ca = pki().dir.file("other_ca.pem");
    Client c(u);
    CHECK(attempt(c, s, "c.example.test").r.ok());
  }
  SUBCASE("verification without any name to check is refused up front") {
    Client c(pki().upstream());
    Outcome o = attempt(c, s, "");
    CHECK(o.r.client == Status::kError);
    CHECK(o.client_error.kind == ErrorKind::kInternal);
  }
}

TEST_CASE("an expired upstream certificate fails verification") {
  TempDir d;
  Issued old = testing::make_cert(
      {.cn = "old", .dns = {"old.example.test"}, .not_before = -10 * 86400, .not_after = -86400},
      &pki().ca);
  testing::write_cert(d.file("old.pem"), old.cert.get());
  testing::write_key(d.file("old.key"), old.key.get());
  conf::ListenerTls t;
  t.certificates.push_back({d.file("old.pem"), d.file("old.key"), std::nullopt});
  std::string err;
  // a server only starts with it when its clock is set back (here: to check the client)
  auto cfg = ServerConfig::load(t, &err, std::time(nullptr) - 5 * 86400);
  REQUIRE(cfg);
  auto keys = std::make_shared<TicketKeys>(std::chrono::hours(1));
  auto sctx = ServerContext::create(cfg, keys);
  Client c(pki().upstream());
  TlsConn client, server;
  REQUIRE(c.ctx->connect(client, "e", "old.example.test"));
  REQUIRE(sctx->accept(server));
  CHECK(handshake(client, server).client == Status::kError);
  CHECK(client.error().kind == ErrorKind::kVerify);
  CHECK(std::string(client.error().reason).find("expired") != std::string::npos);
}

TEST_CASE("mutual TLS to an upstream that requires client certificates") {
  conf::ListenerTls t = pki().listener();
  t.client_ca = pki().dir.file("client_ca.pem");
  t.client_auth = conf::ClientAuth::kRequired;
  Server s(t);
  conf::UpstreamTls u = pki().upstream();
  u.cert = pki().dir.file("alice.pem");
  u.key = pki().dir.file("alice.key");
  Client c(u);
  REQUIRE_MESSAGE(c.ctx, c.error);
  Pair p(c, s, "a.example.test");
  REQUIRE(handshake(p.client, p.server).ok());
  CHECK(p.server.peer_subject() == "CN=alice,O=Portico Test");
  CHECK(p.client.peer_subject() == "CN=a.example.test");
}

TEST_CASE("client config errors name the file") {
  std::string err;
  conf::UpstreamTls u;
  u.ca = "/nonexistent/ca.pem";
  CHECK_FALSE(ClientConfig::load(u, &err));
  CHECK(err.find("/nonexistent/ca.pem") != std::string::npos);
  u = pki().upstream();
  u.cert = pki().dir.file("alice.pem");
  u.key = pki().dir.file("mallory.key");
  CHECK_FALSE(ClientConfig::load(u, &err));
  CHECK(err.find("does not match") != std::string::npos);
  u.key.reset();
  CHECK_FALSE(ClientConfig::load(u, &err));
  ClientOptions o;
  o.system_ca_file = "/nonexistent/bundle.crt";
  CHECK_FALSE(ClientConfig::load(conf::UpstreamTls{}, &err, o));
  CHECK(err.find("system bundle") != std::string::npos);
}

TEST_CASE("session cache: one session per endpoint and name, bounded, dropped after a failure") {
  Server s(pki().listener());
  ClientOptions o;
  o.session_cache_size = 2;
  Client c(pki().upstream(), o);
  auto resumes = [&](const std::string& host, const std::string& endpoint) {
    Pair p(c, s, host, endpoint);
    REQUIRE(handshake(p.client, p.server).ok());
    return p.client.resumed();
  };
  CHECK_FALSE(resumes("a.example.test", "e1"));
  CHECK(c.ctx->cached_sessions() == 1);
  CHECK(resumes("a.example.test", "e1"));
  CHECK_FALSE(resumes("b.example.test", "e1"));  // same endpoint, other name: no reuse
  CHECK(c.ctx->cached_sessions() == 2);
  CHECK(resumes("b.example.test", "e1"));        // now e1|a is the least recently used
  CHECK_FALSE(resumes("a.example.test", "e2"));
  CHECK(c.ctx->cached_sessions() == 2);          // bounded: e1|a went
  CHECK(resumes("b.example.test", "e1"));
  CHECK_FALSE(resumes("a.example.test", "e1"));
  // A failed handshake forgets the session it offered.
  Server wrong(pki().listener({"wild"}));
  CHECK(attempt(c, wrong, "a.example.test", "e1").r.client == Status::kError);
  CHECK(c.ctx->cached_sessions() == 1);
  CHECK(resumes("b.example.test", "e1"));
}

TEST_CASE("session_cache_size 0: never resumes") {
  Server s(pki().listener());
  ClientOptions o;
  o.session_cache_size = 0;
  Client c(pki().upstream(), o);
  attempt(c, s, "a.example.test");
  Pair p(c, s, "a.example.test", "10.0.0.1:443");
  REQUIRE(handshake(p.client, p.server).ok());
  CHECK_FALSE(p.client.resumed());
  CHECK(c.ctx->cached_sessions() == 0);
}
