#pragma once
// Server-side TLS for a listener, in two parts:
//  - ServerConfig: everything loaded and checked from conf::ListenerTls (cert
//    chains + keys, SNI name table, ALPN list, client CA bundle). Immutable;
//    built by the main thread (config check, reload) and shared read-only by
//    all workers through shared_ptr<const ServerConfig>.
//  - ServerContext: one per worker per listener. Owns a BoringSSL SSL_CTX whose
//    session cache is therefore per worker (no cross-worker lock); tickets are
//    encrypted with the listener's shared TicketKeys so they resume on any
//    worker. Used only on its worker's thread.

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "proxy/tls/cert_loader.hpp"
#include "proxy/tls/ticket_keys.hpp"
#include "proxy/tls/tls_conn.hpp"

namespace portico::tls {

class ServerConfig {
 public:
  // Loads and checks every file named by `tls`. Certificates are checked
  // against `now` (seconds since the epoch). nullptr + *error (naming the
  // file) on failure.
  static std::shared_ptr<const ServerConfig> load(const conf::ListenerTls& tls, std::string* error,
                                                  time_t now = std::time(nullptr));

  const std::vector<CertKey>& certificates() const { return certs_; }
  // SNI selection: exact name, then a wildcard covering one label, else the
  // first certificate. Among certificates for the same name, the first whose
  // key type the client can verify wins (ECDSA and RSA for one name).
  // `sni` may be empty; it is matched case-insensitively, trailing dot ignored.
  const CertKey& select(std::string_view sni, bool client_ecdsa, bool client_rsa) const;

  uint16_t min_version() const { return min_version_; }
  std::string_view alpn_wire() const { return alpn_wire_; }  // length-prefixed list
  bool session_tickets() const { return tickets_; }
  std::chrono::nanoseconds ticket_rotation() const { return ticket_rotation_; }
  conf::ClientAuth client_auth() const { return client_auth_; }
  const std::vector<bssl::UniquePtr<X509>>& client_ca() const { return client_ca_; }
  // Session id context: resumption only within the same certificates and
  // client-auth settings.
  const std::array<uint8_t, 32>& sid_ctx() const { return sid_ctx_; }

 private:
  struct NameEntry {
    std::string name;  // exact name, or the suffix of a wildcard without "*."
    uint32_t cert;
  };
  const CertKey* pick(const std::vector<NameEntry>& table, std::string_view name, bool ecdsa,
                      bool rsa) const;

  std::vector<CertKey> certs_;
  std::vector<NameEntry> exact_;     // sorted by name, then configuration order
  std::vector<NameEntry> wildcard_;  // same
  std::string alpn_wire_;
  uint16_t min_version_ = TLS1_2_VERSION;
  bool tickets_ = true;
  std::chrono::nanoseconds ticket_rotation_{};
  conf::ClientAuth client_auth_ = conf::ClientAuth::kNone;
  std::vector<bssl::UniquePtr<X509>> client_ca_;
  std::array<uint8_t, 32> sid_ctx_{};
};

struct ServerOptions {
  // Entries in this worker's TLS 1.2 session-ID cache (clients without
  // tickets); 0 disables it. TLS 1.3 and ticket resumption need no cache.
  size_t session_cache_size = 2048;
  ConnLimits limits;
};

class ServerContext {
 public:
  // `keys` may be null when the config disables session tickets.
  static std::unique_ptr<ServerContext> create(std::shared_ptr<const ServerConfig> config,
                                               std::shared_ptr<TicketKeys> keys,
                                               const ServerOptions& options = {});
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Initialises `conn` as the server side of a new connection. False only on
  // allocation failure.
  bool accept(TlsConn& conn);

  const ServerConfig& config() const { return *config_; }
  SSL_CTX* native() const { return ctx_.get(); }

 private:
  ServerContext(std::shared_ptr<const ServerConfig> config, std::shared_ptr<TicketKeys> keys,
                const ServerOptions& options);
  bool setup();
  static int select_certificate(SSL* ssl, void* arg);
  static int select_alpn(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                         unsigned in_len, void* arg);
  static int ticket_key(SSL* ssl, uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher,
                        HMAC_CTX* hmac, int encrypt);

  std::shared_ptr<const ServerConfig> config_;
  std::shared_ptr<TicketKeys> keys_;
  ServerOptions options_;
  bssl::UniquePtr<SSL_CTX> ctx_;
};

}  // namespace portico::tls
