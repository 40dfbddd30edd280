#pragma once
// Client-side (upstream) TLS for a cluster, in two parts:
//  - ClientConfig: loaded and checked from conf::UpstreamTls (CA bundle,
//    SNI/verify name, client certificate for mutual TLS). Immutable; built by
//    the main thread, shared read-only by workers.
//  - ClientContext: one per worker per cluster. Owns an SSL_CTX and a small
//    cache of the last session per endpoint, so pooled connections to the
//    same endpoint resume. Worker thread only; must outlive its TlsConns.

#include <openssl/ssl.h>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.hpp"
#include "proxy/tls/cert_loader.hpp"
#include "proxy/tls/tls_conn.hpp"

namespace portico::tls {

struct ClientOptions {
  std::vector<std::string> alpn;           // protocols offered; empty = no ALPN extension
  uint16_t min_version = TLS1_2_VERSION;
  uint16_t max_version = TLS1_3_VERSION;
  size_t session_cache_size = 256;         // endpoints remembered per worker; 0 = no reuse
  // Trust anchors when the config names no `ca` (Debian's bundle).
  std::string system_ca_file = "/etc/ssl/certs/ca-certificates.crt";
  ConnLimits limits;
};

class ClientConfig {
 public:
  // nullptr + *error (naming the file) on failure. The client certificate is
  // checked against `now` like a server certificate.
  static std::shared_ptr<const ClientConfig> load(const conf::UpstreamTls& tls, std::string* error,
                                                  const ClientOptions& options = {},
                                                  time_t now = std::time(nullptr));

  bool verify() const { return verify_; }
  const std::optional<std::string>& sni() const { return sni_; }
  const std::vector<bssl::UniquePtr<X509>>& ca() const { return ca_; }
  const std::optional<CertKey>& client_cert() const { return client_cert_; }
  const ClientOptions& options() const { return options_; }

 private:
  bool verify_ = true;
  std::optional<std::string> sni_;
  std::vector<bssl::UniquePtr<X509>> ca_;
  std::optional<CertKey> client_cert_;
  ClientOptions options_;
  std::string alpn_wire_;
  friend class ClientContext;
};

class ClientContext {
 public:
  static std::unique_ptr<ClientContext> create(std::shared_ptr<const ClientConfig> config);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Initialises `conn` as the client side of a connection to `endpoint` (the
  // session-reuse key, e.g. "10.0.0.7:443"). The server name is the config's
  // `sni` if set, else `host`: it is sent as SNI and the certificate is
  // verified against it (an IP literal is verified as an IP and not sent).
  // False on allocation failure, or when verification is on and there is no
  // name to verify against (conn.error() says so).
  bool connect(TlsConn& conn, std::string_view endpoint, std::string_view host);

  size_t cached_sessions() const { return sessions_.size(); }
  void forget(const std::string& key) { sessions_.erase(key); }
  const ClientConfig& config() const { return *config_; }
  SSL_CTX* native() const { return ctx_.get(); }

 private:
  friend class TlsConn;
  explicit ClientContext(std::shared_ptr<const ClientConfig> config);
  bool setup();
  void store(const std::string& key, SSL_SESSION* session);  // takes ownership
  static int new_session(SSL* ssl, SSL_SESSION* session);

  struct Entry {
    bssl::UniquePtr<SSL_SESSION> session;
    uint64_t stamp = 0;
  };
  std::shared_ptr<const ClientConfig> config_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  std::unordered_map<std::string, Entry> sessions_;
  uint64_t clock_ = 0;
};

}  // namespace portico::tls
