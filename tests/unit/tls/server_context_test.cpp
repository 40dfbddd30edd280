// ServerConfig/ServerContext: certificate loading checks, DNS names, SNI
// selection, client certificates, OCSP stapling.

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

ClientOptions no_verify_opts() {
  ClientOptions o;
  o.alpn = {"http/1.1"};
  return o;
}

// The CN of the certificate served for `sni` ("" = no SNI sent).
std::string cn_for(Server& s, const std::string& sni, const ClientOptions& o = no_verify_opts()) {
  Client c(pki().upstream(/*verify=*/false), o);
  Pair p(c, s, sni);
  if (!handshake(p.client, p.server).ok()) return "handshake failed";
  return served_cn(p.client);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("DNS names: subjectAltName entries, else the CN; wildcards kept, junk skipped") {
  Issued a = testing::make_cert({.cn = "ignored.example.test",
                                 .dns = {"Web.Example.Test.", "*.w.example.test", "bad name",
                                         "a.*.example.test"}},
                                nullptr);
  CHECK(dns_names(a.cert.get()) == std::vector<std::string>{"web.example.test", "*.w.example.test"});
  Issued b = testing::make_cert({.cn = "Only-CN.example.test"}, nullptr);
  CHECK(dns_names(b.cert.get()) == std::vector<std::string>{"only-cn.example.test"});
  Issued c = testing::make_cert({.cn = "ip only", .ips = {"127.0.0.1"}}, nullptr);
  CHECK(dns_names(c.cert.get()).empty());  // "ip only" is not a DNS name
}

TEST_CASE("the loaded config lists every certificate with its names") {
  std::string err;
  auto cfg = ServerConfig::load(pki().listener({"default", "exact", "wild", "rsa"}), &err);
  REQUIRE_MESSAGE(cfg, err);
  REQUIRE(cfg->certificates().size() == 4);
  CHECK(cfg->certificates()[1].names == std::vector<std::string>{"a.example.test", "b.example.test"});
  CHECK(cfg->certificates()[1].chain.size() == 2);  // leaf + CA from the PEM
  CHECK(cfg->certificates()[0].type == KeyType::kEcdsa);
  CHECK(cfg->certificates()[3].type == KeyType::kRsa);
}

TEST_CASE("SNI picks the exact name, then a one-label wildcard, else the first certificate") {
  Server s(pki().listener());
  REQUIRE(s.ctx);
  CHECK(cn_for(s, "a.example.test") == "a.example.test");
  CHECK(cn_for(s, "B.EXAMPLE.TEST") == "a.example.test");  // second SAN, case-insensitive
  CHECK(cn_for(s, "x.w.example.test") == "wild");
  CHECK(cn_for(s, "y.w.example.test.") == "wild");        // trailing dot
  CHECK(cn_for(s, "w.example.test") == "default.example.test");        // wildcard needs a label
  CHECK(cn_for(s, "a.b.w.example.test") == "default.example.test");    // only one label
  CHECK(cn_for(s, "unknown.example.test") == "default.example.test");
  CHECK(cn_for(s, "") == "default.example.test");  // no SNI at all
}

TEST_CASE("SNI with an ECDSA and an RSA certificate for one name follows the client's algorithms") {
  Server s(pki().listener({"default", "exact", "rsa"}));
  REQUIRE(s.ctx);
  CHECK(cn_for(s, "a.example.test") == "a.example.test");  // ECDSA, configured first
  // A client that can only verify RSA signatures gets the RSA certificate.
  Client c(pki().upstream(false), no_verify_opts());
  static const uint16_t kRsaOnly[] = {SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256};
  REQUIRE(SSL_CTX_set_verify_algorithm_prefs(c.ctx->native(), kRsaOnly, 2));
  Pair p(c, s, "a.example.test");
  REQUIRE(handshake(p.client, p.server).ok());
  CHECK(served_cn(p.client) == "rsa.example.test");
}

TEST_CASE("loading refuses bad certificates with the file named") {
  TempDir d;
  Issued good = testing::write_pair(d, "good", {.cn = "good.example.test", .dns = {"good.example.test"}}, nullptr);
  Issued other = testing::write_pair(d, "other", {.cn = "other"}, nullptr);
  testing::write_pair(d, "expired",
                      {.cn = "old.example.test", .not_before = -10 * 86400, .not_after = -86400},
                      nullptr);
  testing::write_bytes(d.file("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
  testing::write_bytes(d.file("empty.pem"), "nothing here\n");
  std::string err;
  auto load = [&](const std::string& cert, const std::string& key) {
    conf::ListenerTls t;
    t.certificates.push_back({d.file(cert), d.file(key), std::nullopt});
    err.clear();
    return ServerConfig::load(t, &err);
  };
  CHECK(load("good.pem", "good.key"));

  SUBCASE("key does not match the certificate") {
    CHECK_FALSE(load("good.pem", "other.key"));
    CHECK(contains(err, d.file("other.key")));
    CHECK(contains(err, d.file("good.pem")));
    CHECK(contains(err, "does not match"));
  }
  SUBCASE("expired certificate") {
    CHECK_FALSE(load("expired.pem", "expired.key"));
    CHECK(contains(err, d.file("expired.pem")));
    CHECK(contains(err, "expired"));
  }
  SUBCASE("an expired certificate is accepted by a clock set before its end") {
    conf::ListenerTls t;
    t.certificates.push_back({d.file("expired.pem"), d.file("expired.key"), std::nullopt});
    CHECK(ServerConfig::load(t, &err, std::time(nullptr) - 2 * 86400));
  }
  SUBCASE("missing, garbage and empty files") {
    CHECK_FALSE(load("missing.pem", "good.key"));
    CHECK(contains(err, d.file("missing.pem")));
    CHECK(contains(err, "cannot open"));
    CHECK_FALSE(load("garbage.pem", "good.key"));
    CHECK(contains(err, d.file("garbage.pem")));
    CHECK_FALSE(load("empty.pem", "good.key"));
    CHECK(contains(err, "no PEM certificate"));
    CHECK_FALSE(load("good.pem", "empty.pem"));
    CHECK(contains(err, d.file("empty.pem")));
    CHECK(contains(err, "private key"));
  }
  SUBCASE("client_auth without client_ca, bad ocsp file, no certificates") {
    conf::ListenerTls t;
    t.certificates.push_back({d.file("good.pem"), d.file("good.key"), std::nullopt});
    t.client_auth = conf::ClientAuth::kRequired;
    CHECK_FALSE(ServerConfig::load(t, &err));
    CHECK(contains(err, "client_ca"));
    t.client_auth = conf::ClientAuth::kNone;
    t.certificates[0].ocsp = d.file("empty.pem");
    CHECK_FALSE(ServerConfig::load(t, &err));
    CHECK(contains(err, d.file("empty.pem")));
    t.certificates.clear();
    CHECK_FALSE(ServerConfig::load(t, &err));
  }
}

TEST_CASE("OCSP stapling sends the configured DER response to clients that ask") {
  TempDir d;
  // A syntactically plausible response (a DER SEQUENCE); the client does not parse it.
  std::string der = std::string("\x30\x05\x0a\x01\x00\xa0\x00", 7);
  testing::write_bytes(d.file("ocsp.der"), der);
  conf::ListenerTls t = pki().listener({"exact"});
  t.certificates[0].ocsp = d.file("ocsp.der");
  Server s(t);
  REQUIRE(s.ctx);
  Client c(pki().upstream());
  Pair p(c, s, "a.example.test");
  SSL_enable_ocsp_stapling(p.client.native());
  REQUIRE(handshake(p.client, p.server).ok());
  const uint8_t* resp = nullptr;
  size_t len = 0;
  SSL_get0_ocsp_response(p.client.native(), &resp, &len);
  CHECK(std::string(reinterpret_cast<const char*>(resp), len) == der);
}

TEST_CASE("client_auth required: refused without a certificate or with an untrusted one") {
  conf::ListenerTls t = pki().listener();
  t.client_ca = pki().dir.file("client_ca.pem");
  t.client_auth = conf::ClientAuth::kRequired;
  Server s(t);
  REQUIRE_MESSAGE(s.ctx, s.error);

  SUBCASE("no certificate") {
    Client c(pki().upstream());
    Pair p(c, s, "a.example.test");
    HandshakeResult r = handshake(p.client, p.server);
    CHECK(r.server == Status::kError);
    CHECK(p.server.error().kind == ErrorKind::kVerify);
    // TLS 1.3: the client finished first and learns of the refusal on read.
    uint8_t buf[8];
    transfer(p.server, p.client);
    CHECK(p.client.read(buf).status == Status::kError);
    CHECK(p.client.error().kind == ErrorKind::kPeerAlert);
  }
  SUBCASE("a certificate from another CA") {
    conf::UpstreamTls u = pki().upstream();
    u.cert = pki().dir.file("mallory.pem");
    u.key = pki().dir.file("mallory.key");
    Client c(u);
    REQUIRE(c.ctx);
    Pair p(c, s, "a.example.test");
    HandshakeResult r = handshake(p.client, p.server);
    CHECK(r.server == Status::kError);
    CHECK(p.server.error().kind == ErrorKind::kVerify);
  }
  SUBCASE("a trusted certificate: accepted, subject exposed, also after resumption") {
    conf::UpstreamTls u = pki().upstream();
    u.cert = pki().dir.file("alice.pem");
    u.key = pki().dir.file("alice.key");
    Client c(u);
    REQUIRE_MESSAGE(c.ctx, c.error);
    for (int i = 0; i < 2; ++i) {
      Pair p(c, s, "a.example.test");
      REQUIRE(handshake(p.client, p.server).ok());
      CHECK(p.server.resumed() == (i == 1));
      CHECK(p.server.peer_subject() == "CN=alice,O=Portico Test");
    }
  }
}

TEST_CASE("client_auth optional: no certificate is fine, a given one is verified and exposed") {
  conf::ListenerTls t = pki().listener();
  t.client_ca = pki().dir.file("client_ca.pem");
  t.client_auth = conf::ClientAuth::kOptional;
  Server s(t);
  REQUIRE(s.ctx);
  {
    Client c(pki().upstream());
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
    CHECK(p.server.peer_subject().empty());
  }
  {
    conf::UpstreamTls u = pki().upstream();
    u.cert = pki().dir.file("alice.pem");
    u.key = pki().dir.file("alice.key");
    Client c(u);
    Pair p(c, s, "a.example.test");
    REQUIRE(handshake(p.client, p.server).ok());
    CHECK(p.server.peer_subject() == "CN=alice,O=Portico Test");
  }
  {
    conf::UpstreamTls u = pki().upstream();
    u.cert = pki().dir.file("mallory.pem");
    u.key = pki().dir.file("mallory.key");
    Client c(u);
    Pair p(c, s, "a.example.test");
    CHECK(handshake(p.client, p.server).server == Status::kError);
    CHECK(p.server.error().kind == ErrorKind::kVerify);
  }
}

TEST_CASE("a subject with control characters is escaped, safe for a header") {
  TempDir d;
  Issued evil = testing::make_cert({.cn = "evil\r\nX-Admin: 1", .org = "A,B"}, &pki().client_ca);
  testing::write_cert(d.file("evil.pem"), evil.cert.get());
  testing::write_key(d.file("evil.key"), evil.key.get());
  conf::ListenerTls t = pki().listener();
  t.client_ca = pki().dir.file("client_ca.pem");
  t.client_auth = conf::ClientAuth::kRequired;
  Server s(t);
  conf::UpstreamTls u = pki().upstream();
  u.cert = d.file("evil.pem");
  u.key = d.file("evil.key");
  Client c(u);
  REQUIRE(c.ctx);
  Pair p(c, s, "a.example.test");
  REQUIRE(handshake(p.client, p.server).ok());
  std::string subject(p.server.peer_subject());
  CHECK(subject.find('\r') == std::string::npos);
  CHECK(subject.find('\n') == std::string::npos);
  CHECK(subject.find("CN=evil") == 0);
  CHECK(contains(subject, "O=A\\,B"));
}
