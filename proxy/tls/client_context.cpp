#include "proxy/tls/client_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace portico::tls {
namespace {

bool is_ip_literal(const std::string& s) {
  uint8_t buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

// ---------------------------------------------------------------- ClientConfig

std::shared_ptr<const ClientConfig> ClientConfig::load(const conf::UpstreamTls& tls,
                                                       std::string* error,
                                                       const ClientOptions& options, time_t now) {
  auto cfg = std::shared_ptr<ClientConfig>(new ClientConfig());
  cfg->verify_ = tls.verify;
  cfg->sni_ = tls.sni;
  cfg->options_ = options;
  if (tls.sni && (tls.sni->empty() || tls.sni->size() > 253)) {
    *error = "tls: sni must be 1 to 253 bytes";
    return nullptr;
  }
  if (tls.ca) {
    if (!load_pem_certs(*tls.ca, &cfg->ca_, error)) return nullptr;
  } else if (tls.verify) {
    if (!load_pem_certs(options.system_ca_file, &cfg->ca_, error)) {
      *error = "tls: no ca given and the system bundle is unusable: " + *error;
      return nullptr;
    }
  }
  if (tls.cert.has_value() != tls.key.has_value()) {
    *error = "tls: cert and key must be set together";
    return nullptr;
  }
  if (tls.cert) {
    auto ck = load_cert_key(*tls.cert, *tls.key, std::nullopt, now, error);
    if (!ck) return nullptr;
    cfg->client_cert_ = std::move(*ck);
  }
  for (const auto& p : options.alpn) {
    if (p.empty() || p.size() > 255) {
      *error = "tls: alpn protocol names must be 1 to 255 bytes";
      return nullptr;
    }
    cfg->alpn_wire_.push_back(static_cast<char>(p.size()));
    cfg->alpn_wire_ += p;
  }
  return cfg;
}

// ---------------------------------------------------------------- ClientContext

ClientContext::ClientContext(std::shared_ptr<const ClientConfig> config)
    : config_(std::move(config)) {}

ClientContext::~ClientContext() = default;

std::unique_ptr<ClientContext> ClientContext::create(std::shared_ptr<const ClientConfig> config) {
  if (!config) return nullptr;
  std::unique_ptr<ClientContext> c(new ClientContext(std::move(config)));
  if (!c->setup()) {
    ERR_clear_error();
    return nullptr;
  }
  return c;
}

bool ClientContext::setup() {
  const ClientConfig& cfg = *config_;
  const ClientOptions& o = cfg.options_;
  ctx_.reset(SSL_CTX_new(TLS_method()));
  SSL_CTX* ctx = ctx_.get();
  if (!ctx) return false;
  if (!SSL_CTX_set_min_proto_version(ctx, o.min_version) ||
      !SSL_CTX_set_max_proto_version(ctx, o.max_version))
    return false;
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // a no-op in BoringSSL (always released)
  if (cfg.verify_) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& x : cfg.ca_)
      if (!X509_STORE_add_cert(store, x.get())) ERR_clear_error();  // duplicates are harmless
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (cfg.client_cert_) {
    const CertKey& ck = *cfg.client_cert_;
    if (!SSL_CTX_set_chain_and_key(ctx, ck.chain_ptrs.data(), ck.chain_ptrs.size(), ck.key.get(),
                                   nullptr))
      return false;
  }
  if (!cfg.alpn_wire_.empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const uint8_t*>(cfg.alpn_wire_.data()),
                              cfg.alpn_wire_.size()) != 0)
    return false;
  if (o.session_cache_size > 0) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  return true;
}

bool ClientContext::connect(TlsConn& conn, std::string_view endpoint, std::string_view host) {
  const ClientConfig& cfg = *config_;
  if (!conn.init(ctx_.get(), /*server=*/false, cfg.options_.limits)) return false;
  SSL* ssl = conn.ssl_;
  std::string name = cfg.sni_ ? *cfg.sni_ : std::string(host);
  bool ip = !name.empty() && is_ip_literal(name);
  if (!name.empty() && !ip && !SSL_set_tlsext_host_name(ssl, name.c_str())) {
    ERR_clear_error();
    conn.set_error(ErrorKind::kInternal, "cannot set SNI");
    return false;
  }
  if (cfg.verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool ok = name.empty() ? false
              : ip         ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                           : SSL_set1_host(ssl, name.c_str()) == 1;
    if (!ok) {
      ERR_clear_error();
      conn.set_error(ErrorKind::kInternal,
                     name.empty() ? "no server name to verify the upstream certificate against"
                                  : "cannot set the name to verify");
      return false;
    }
  }
  if (cfg.options_.session_cache_size > 0) {
    conn.client_ = this;
    conn.session_key_.reserve(endpoint.size() + 1 + name.size());
    conn.session_key_.assign(endpoint);
    conn.session_key_ += '|';  // a session is reused only for the same endpoint and name
    conn.session_key_ += name;
    auto it = sessions_.find(conn.session_key_);
    if (it != sessions_.end()) {
      if (!SSL_set_session(ssl, it->second.session.get())) ERR_clear_error();
      it->second.stamp = ++clock_;
    }
  }
  return true;
}

void ClientContext::store(const std::string& key, SSL_SESSION* session) {
  bssl::UniquePtr<SSL_SESSION> s(session);
  size_t max = config_->options_.session_cache_size;
  if (max == 0) return;
  auto it = sessions_.find(key);
  if (it == sessions_.end()) {
    if (sessions_.size() >= max) {  // evict the least recently used endpoint
      auto victim = sessions_.begin();
      for (auto i = sessions_.begin(); i != sessions_.end(); ++i)
        if (i->second.stamp < victim->second.stamp) victim = i;
      sessions_.erase(victim);
    }
    it = sessions_.emplace(key, Entry{}).first;
  }
  it->second.session = std::move(s);
  it->second.stamp = ++clock_;
}

int ClientContext::new_session(SSL* ssl, SSL_SESSION* session) {
  BIO* bio = SSL_get_rbio(ssl);
  auto* conn = bio ? static_cast<TlsConn*>(BIO_get_data(bio)) : nullptr;
  if (!conn || !conn->client_ || !SSL_SESSION_is_resumable(session)) return 0;
  conn->client_->store(conn->session_key_, session);
  return 1;
}

}  // namespace portico::tls
