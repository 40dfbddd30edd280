#pragma once
// Shared helpers for the tls unit tests: a temporary PKI written at test time
// and an in-memory pump that moves ciphertext between two TlsConns.

#include <openssl/ssl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/tls/client_context.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/ticket_keys.hpp"
#include "proxy/tls/tls_conn.hpp"
#include "tests/support/tls_test_certs.hpp"

namespace portico::tls::test {

using portico::testing::CertSpec;
using portico::testing::Issued;
using portico::testing::KeyKind;
using portico::testing::TempDir;

// Moves everything `from` has to send into `to` (as far as `to` accepts).
inline size_t transfer(TlsConn& from, TlsConn& to) {
  size_t moved = 0;
  for (int i = 0; i < 1000 && from.has_output(); ++i) {
    size_t n = to.on_ciphertext(from.pending_output());
    if (n == 0) break;
    from.consume_output(n);
    moved += n;
  }
  return moved;
}

struct HandshakeResult {
  Status client = Status::kWantInput;
  Status server = Status::kWantInput;
  bool ok() const { return client == Status::kOk && server == Status::kOk; }
};

// Runs both handshakes to completion or failure (bounded rounds), then lets
// the client read post-handshake messages (TLS 1.3 session tickets).
inline HandshakeResult handshake(TlsConn& client, TlsConn& server) {
  HandshakeResult r;
  for (int round = 0; round < 20; ++round) {
    r.client = client.handshake();
    transfer(client, server);
    r.server = server.handshake();
    transfer(server, client);
    if (r.client == Status::kError || r.server == Status::kError) {
      // deliver the alert so the other side sees it too
      r.client = client.handshake();
      transfer(client, server);
      r.server = server.handshake();
      break;
    }
    if (r.ok() && !client.has_output() && !server.has_output()) break;
  }
  if (r.ok()) {
    server.write({});  // TLS 1.3 tickets otherwise wait for the server's first write
    transfer(server, client);
    uint8_t buf[64];
    client.read(buf);  // processes NewSessionTicket; returns kWantInput
    transfer(client, server);
  }
  return r;
}

// Sends `data` from a to b and returns what b read.
inline std::string send_through(TlsConn& a, TlsConn& b, const std::string& data) {
  std::string got;
  size_t off = 0;
  for (int i = 0; i < 100000 && (off < data.size() || a.has_output()); ++i) {
    if (off < data.size()) {
      IoResult w = a.write({reinterpret_cast<const uint8_t*>(data.data()) + off, data.size() - off});
      if (w.status != Status::kOk) break;
      off += w.bytes;
    }
    transfer(a, b);
    uint8_t buf[4096];
    while (true) {
      IoResult r = b.read(buf);
      if (r.status != Status::kOk || r.bytes == 0) break;
      got.append(reinterpret_cast<const char*>(buf), r.bytes);
    }
  }
  return got;
}

// The server certificate the client received: its subject CN.
inline std::string served_cn(TlsConn& client) {
  bssl::UniquePtr<X509> peer(SSL_get_peer_certificate(client.native()));
  if (!peer) return {};
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer.get()), NID_commonName, buf, sizeof buf);
  return buf;
}

// A CA, server certificates for several names, a client CA with a client
// certificate, and a second unrelated CA. All PEM files in a temp dir.
struct Pki {
  TempDir dir;
  Issued ca;
  Issued other_ca;
  Issued client_ca;
  Pki() {
    ca = testing::make_cert({.cn = "Portico Test CA", .ca = true}, nullptr);
    testing::write_cert(dir.file("ca.pem"), ca.cert.get());
    other_ca = testing::make_cert({.cn = "Other CA", .ca = true}, nullptr);
    testing::write_cert(dir.file("other_ca.pem"), other_ca.cert.get());
    client_ca = testing::make_cert({.cn = "Portico Client CA", .ca = true}, nullptr);
    testing::write_cert(dir.file("client_ca.pem"), client_ca.cert.get());
    // "default" first: the certificate for unknown names.
    leaf("default", {.cn = "default.example.test", .dns = {"default.example.test"}});
    leaf("exact", {.cn = "a.example.test", .dns = {"a.example.test", "b.example.test"}});
    leaf("wild", {.cn = "wild", .dns = {"*.w.example.test"}});
    leaf("rsa", {.cn = "rsa.example.test", .dns = {"a.example.test"}, .key = KeyKind::kRsa2048});
    leaf("ip", {.cn = "ip", .ips = {"127.0.0.1"}});
    Issued alice = testing::make_cert({.cn = "alice", .org = "Portico Test"}, &client_ca);
    testing::write_chain(dir.file("alice.pem"), {alice.cert.get()});
    testing::write_key(dir.file("alice.key"), alice.key.get());
    Issued mallory = testing::make_cert({.cn = "mallory"}, &other_ca);
    testing::write_cert(dir.file("mallory.pem"), mallory.cert.get());
    testing::write_key(dir.file("mallory.key"), mallory.key.get());
  }
  void leaf(const std::string& name, const CertSpec& spec) {
    Issued i = testing::make_cert(spec, &ca);
    testing::write_chain(dir.file(name + ".pem"), {i.cert.get(), ca.cert.get()});
    testing::write_key(dir.file(name + ".key"), i.key.get());
  }
  conf::TlsCertificate cert(const std::string& name) const {
    return {dir.file(name + ".pem"), dir.file(name + ".key"), std::nullopt};
  }
  conf::ListenerTls listener(std::vector<std::string> names = {"default", "exact", "wild"}) const {
    conf::ListenerTls t;
    for (const auto& n : names) t.certificates.push_back(cert(n));
    return t;
  }
  conf::UpstreamTls upstream(bool verify = true) const {
    conf::UpstreamTls u;
    u.ca = dir.file("ca.pem");
    u.verify = verify;
    return u;
  }
};

// A server (one worker's context) plus a way to make clients.
struct Server {
  std::shared_ptr<const ServerConfig> config;
  std::shared_ptr<TicketKeys> keys;
  std::unique_ptr<ServerContext> ctx;
  std::string error;

  explicit Server(const conf::ListenerTls& t, std::shared_ptr<TicketKeys> k = nullptr) {
    config = ServerConfig::load(t, &error);
    if (!config) return;
    keys = k ? std::move(k) : std::make_shared<TicketKeys>(t.ticket_rotation);
    ctx = ServerContext::create(config, keys);
  }
};

struct Client {
  std::shared_ptr<const ClientConfig> config;
  std::unique_ptr<ClientContext> ctx;
  std::string error;

  explicit Client(const conf::UpstreamTls& u, const ClientOptions& o = {}) {
    config = ClientConfig::load(u, &error, o);
    if (config) ctx = ClientContext::create(config);
  }
};

// One client/server connection pair, heap-allocated (TlsConn never moves).
struct Pair {
  TlsConn client;
  TlsConn server;
  bool started = false;
  Pair(Client& c, Server& s, const std::string& host, const std::string& endpoint = "127.0.0.1:443") {
    started = c.ctx->connect(client, endpoint, host) && s.ctx->accept(server);
  }
};

}  // namespace portico::tls::test
