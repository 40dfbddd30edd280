#include "proxy/tls/server_context.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

namespace portico::tls {
namespace {

// TLS 1.2 suites: forward secret AEADs only (TLS 1.3 suites are fixed by BoringSSL).
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr size_t kMaxName = 253;

// Lower-cases `sni` into buf without its trailing dot; the length, or 0 if unusable.
size_t normalise_sni(std::string_view sni, char (&buf)[kMaxName + 1]) {
  if (!sni.empty() && sni.back() == '.') sni.remove_suffix(1);
  if (sni.empty() || sni.size() > kMaxName) return 0;
  for (size_t i = 0; i < sni.size(); ++i) {
    char c = sni[i];
    buf[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return sni.size();
}

bool supports(const CertKey& c, bool ecdsa, bool rsa) {
  return c.type == KeyType::kEcdsa ? ecdsa : rsa;
}

void hash_der(SHA256_CTX* h, X509* x) {
  uint8_t* der = nullptr;
  int len = i2d_X509(x, &der);
  if (len > 0) SHA256_Update(h, der, static_cast<size_t>(len));
  OPENSSL_free(der);
}

}  // namespace

// ---------------------------------------------------------------- ServerConfig

std::shared_ptr<const ServerConfig> ServerConfig::load(const conf::ListenerTls& tls,
                                                       std::string* error, time_t now) {
  auto cfg = std::shared_ptr<ServerConfig>(new ServerConfig());
  if (tls.certificates.empty()) {
    *error = "tls: at least one certificate is required";
    return nullptr;
  }
  for (const auto& c : tls.certificates) {
    auto ck = load_cert_key(c.cert, c.key, c.ocsp, now, error);
    if (!ck) return nullptr;
    cfg->certs_.push_back(std::move(*ck));
  }
  for (uint32_t i = 0; i < cfg->certs_.size(); ++i) {
    for (const auto& n : cfg->certs_[i].names) {
      if (n.size() > 2 && n[0] == '*' && n[1] == '.')
        cfg->wildcard_.push_back({n.substr(2), i});
      else
        cfg->exact_.push_back({n, i});
    }
  }
  auto by_name = [](const NameEntry& a, const NameEntry& b) { return a.name < b.name; };
  std::stable_sort(cfg->exact_.begin(), cfg->exact_.end(), by_name);
  std::stable_sort(cfg->wildcard_.begin(), cfg->wildcard_.end(), by_name);

  for (const auto& p : tls.alpn) {
    if (p.empty() || p.size() > 255) {
      *error = "tls: alpn protocol names must be 1 to 255 bytes";
      return nullptr;
    }
    cfg->alpn_wire_.push_back(static_cast<char>(p.size()));
    cfg->alpn_wire_ += p;
  }
  if (tls.min_version == "1.3") {
    cfg->min_version_ = TLS1_3_VERSION;
  } else if (tls.min_version == "1.2") {
    cfg->min_version_ = TLS1_2_VERSION;
  } else {
    *error = "tls: min_version must be \"1.2\" or \"1.3\"";
    return nullptr;
  }
  cfg->tickets_ = tls.session_tickets;
  cfg->ticket_rotation_ = tls.ticket_rotation;
  cfg->client_auth_ = tls.client_auth;
  if (tls.client_auth != conf::ClientAuth::kNone && !tls.client_ca) {
    *error = "tls: client_auth " +
             std::string(tls.client_auth == conf::ClientAuth::kRequired ? "required" : "optional") +
             " needs client_ca";
    return nullptr;
  }
  if (tls.client_ca && !load_pem_certs(*tls.client_ca, &cfg->client_ca_, error)) return nullptr;

  SHA256_CTX h;
  SHA256_Init(&h);
  for (const auto& c : cfg->certs_) hash_der(&h, c.leaf.get());
  uint8_t mode = static_cast<uint8_t>(cfg->client_auth_);
  SHA256_Update(&h, &mode, 1);
  for (const auto& x : cfg->client_ca_) hash_der(&h, x.get());
  SHA256_Final(cfg->sid_ctx_.data(), &h);
  return cfg;
}

const CertKey* ServerConfig::pick(const std::vector<NameEntry>& table, std::string_view name,
                                  bool ecdsa, bool rsa) const {
  auto lo = std::lower_bound(table.begin(), table.end(), name,
                             [](const NameEntry& e, std::string_view n) { return e.name < n; });
  const CertKey* first = nullptr;
  for (auto it = lo; it != table.end() && it->name == name; ++it) {
    const CertKey& c = certs_[it->cert];
    if (supports(c, ecdsa, rsa)) return &c;
    if (!first) first = &c;
  }
  return first;
}

const CertKey& ServerConfig::select(std::string_view sni, bool client_ecdsa,
                                    bool client_rsa) const {
  char buf[kMaxName + 1];
  size_t len = normalise_sni(sni, buf);
  if (len) {
    std::string_view name(buf, len);
    if (const CertKey* c = pick(exact_, name, client_ecdsa, client_rsa)) return *c;
    size_t dot = name.find('.');
    if (dot != std::string_view::npos && dot > 0 && dot + 1 < name.size()) {
      if (const CertKey* c = pick(wildcard_, name.substr(dot + 1), client_ecdsa, client_rsa))
        return *c;
    }
  }
  for (const auto& c : certs_)
    if (supports(c, client_ecdsa, client_rsa)) return c;
  return certs_.front();
}

// ---------------------------------------------------------------- ServerContext

ServerContext::ServerContext(std::shared_ptr<const ServerConfig> config,
                             std::shared_ptr<TicketKeys> keys, const ServerOptions& options)
    : config_(std::move(config)), keys_(std::move(keys)), options_(options) {}

ServerContext::~ServerContext() = default;

std::unique_ptr<ServerContext> ServerContext::create(std::shared_ptr<const ServerConfig> config,
                                                     std::shared_ptr<TicketKeys> keys,
                                                     const ServerOptions& options) {
  if (!config) return nullptr;
  std::unique_ptr<ServerContext> s(new ServerContext(std::move(config), std::move(keys), options));
  if (!s->setup()) {
    ERR_clear_error();
    return nullptr;
  }
  return s;
}

bool ServerContext::setup() {
  const ServerConfig& cfg = *config_;
  ctx_.reset(SSL_CTX_new(TLS_method()));
  SSL_CTX* ctx = ctx_.get();
  if (!ctx) return false;
  if (!SSL_CTX_set_min_proto_version(ctx, cfg.min_version()) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_strict_cipher_list(ctx, kCipherList))
    return false;
  // BoringSSL always releases empty record buffers (the mode is a no-op kept
  // for readers who look for it).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_app_data(ctx, this);
  if (cfg.certificates().size() == 1) {
    // One certificate: nothing to choose. Set once here, SSL_new shares it by
    // reference, and a handshake skips the callback's SSL_set_chain_and_key,
    // which parses the leaf's public key and checks it against the key again.
    const CertKey& c = cfg.certificates().front();
    if (!SSL_CTX_set_chain_and_key(ctx, c.chain_ptrs.data(), c.chain_ptrs.size(), c.key.get(), nullptr))
      return false;
    if (c.ocsp && !SSL_CTX_set_ocsp_response(ctx, CRYPTO_BUFFER_data(c.ocsp.get()), CRYPTO_BUFFER_len(c.ocsp.get())))
      return false;
  } else {
    SSL_CTX_set_cert_cb(ctx, select_certificate, this);
  }
  if (!cfg.alpn_wire().empty()) SSL_CTX_set_alpn_select_cb(ctx, select_alpn, this);
  if (!SSL_CTX_set_session_id_context(ctx, cfg.sid_ctx().data(), cfg.sid_ctx().size()))
    return false;

  if (cfg.session_tickets() && keys_) {
    SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_key);
    // A ticket decrypts while its key is current or previous: at least one
    // rotation period. Advertise no longer than that (TLS 1.3 caps at 7 days).
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(keys_->rotation()).count();
    secs = std::clamp<long long>(secs, 60, 7 * 24 * 3600);
    SSL_CTX_set_timeout(ctx, static_cast<uint32_t>(secs));
    SSL_CTX_set_session_psk_dhe_timeout(ctx, static_cast<uint32_t>(secs));
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  if (options_.session_cache_size > 0) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, static_cast<unsigned long>(options_.session_cache_size));
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }

  if (cfg.client_auth() != conf::ClientAuth::kNone) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    bssl::UniquePtr<STACK_OF(X509_NAME)> names(sk_X509_NAME_new_null());
    if (!names) return false;
    for (const auto& x : cfg.client_ca()) {
      if (!X509_STORE_add_cert(store, x.get())) ERR_clear_error();  // duplicates are harmless
      X509_NAME* n = X509_NAME_dup(X509_get_subject_name(x.get()));
      if (!n || !sk_X509_NAME_push(names.get(), n)) {
        X509_NAME_free(n);
        return false;
      }
    }
    SSL_CTX_set_client_CA_list(ctx, names.release());
    int mode = SSL_VERIFY_PEER;
    if (cfg.client_auth() == conf::ClientAuth::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  }
  return true;
}

bool ServerContext::accept(TlsConn& conn) {
  return conn.init(ctx_.get(), /*server=*/true, options_.limits);
}

int ServerContext::select_certificate(SSL* ssl, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  // Which key types can the client verify? No list (old TLS 1.2 clients): any.
  const uint16_t* sigalgs = nullptr;
  size_t n = SSL_get0_peer_verify_algorithms(ssl, &sigalgs);
  bool ecdsa = n == 0, rsa = n == 0;
  for (size_t i = 0; i < n; ++i) {
    int type = SSL_get_signature_algorithm_key_type(sigalgs[i]);
    ecdsa |= type == EVP_PKEY_EC;
    rsa |= type == EVP_PKEY_RSA;
  }
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const CertKey& c = self->config_->select(sni ? sni : "", ecdsa, rsa);
  if (!SSL_set_chain_and_key(ssl, c.chain_ptrs.data(), c.chain_ptrs.size(), c.key.get(), nullptr))
    return 0;
  if (c.ocsp && !SSL_set_ocsp_response(ssl, CRYPTO_BUFFER_data(c.ocsp.get()),
                                       CRYPTO_BUFFER_len(c.ocsp.get())))
    return 0;
  return 1;
}

int ServerContext::select_alpn(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                               unsigned in_len, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  std::string_view ours = self->config_->alpn_wire();
  // Our preference order: the first configured protocol the client offers.
  for (size_t i = 0; i < ours.size();) {
    size_t len = static_cast<uint8_t>(ours[i]);
    std::string_view want = ours.substr(i + 1, len);
    i += 1 + len;
    for (unsigned j = 0; j < in_len;) {
      unsigned l = in[j];
      if (j + 1 + l > in_len) break;  // malformed list (BoringSSL checks this too)
      if (l == want.size() && std::equal(want.begin(), want.end(), in + j + 1)) {
        *out = in + j + 1;
        *out_len = static_cast<uint8_t>(l);
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1 + l;
    }
  }
  // No overlap: carry on without ALPN (as nginx does) rather than fail.
  return SSL_TLSEXT_ERR_NOACK;
}

int ServerContext::ticket_key(SSL* ssl, uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher,
                              HMAC_CTX* hmac, int encrypt) {
  auto* self = static_cast<ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self || !self->keys_) return encrypt ? -1 : 0;
  TicketKeys::Key cur, prev;
  bool has_prev = false;
  int ret;
  if (!self->keys_->snapshot(&cur, &prev, &has_prev)) {
    ret = encrypt ? -1 : 0;
  } else if (encrypt) {
    std::copy(cur.name.begin(), cur.name.end(), key_name);
    ret = RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_128_cbc())) &&
                  EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, cur.aes.data(), iv) &&
                  HMAC_Init_ex(hmac, cur.hmac.data(), cur.hmac.size(), EVP_sha256(), nullptr)
              ? 1
              : -1;
  } else {
    const TicketKeys::Key* k = nullptr;
    ret = 0;  // unknown key: full handshake, new ticket
    if (std::equal(cur.name.begin(), cur.name.end(), key_name)) {
      k = &cur;
      ret = 1;
    } else if (has_prev && std::equal(prev.name.begin(), prev.name.end(), key_name)) {
      k = &prev;
      ret = 2;  // decrypts, but re-issue under the current key
    }
    if (k && !(EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, k->aes.data(), iv) &&
               HMAC_Init_ex(hmac, k->hmac.data(), k->hmac.size(), EVP_sha256(), nullptr)))
      ret = -1;
  }
  OPENSSL_cleanse(&cur, sizeof cur);
  OPENSSL_cleanse(&prev, sizeof prev);
  return ret;
}

}  // namespace portico::tls
