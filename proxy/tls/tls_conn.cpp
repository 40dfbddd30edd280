#include "proxy/tls/tls_conn.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <climits>

#include "proxy/tls/cert_loader.hpp"
#include "proxy/tls/client_context.hpp"

namespace portico::tls {

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::kNone: return "none";
    case ErrorKind::kProtocol: return "protocol";
    case ErrorKind::kPeerAlert: return "peer_alert";
    case ErrorKind::kVerify: return "verify";
    case ErrorKind::kTruncated: return "truncated";
    case ErrorKind::kInternal: return "internal";
  }
  return "?";
}

const char* failure_name(HandshakeFailure f) {
  switch (f) {
    case HandshakeFailure::kTimeout: return "timeout";
    case HandshakeFailure::kClosed: return "closed";
    case HandshakeFailure::kUnsupportedVersion: return "unsupported_version";
    case HandshakeFailure::kNoSharedCipher: return "no_shared_cipher";
    case HandshakeFailure::kClientCertificate: return "client_certificate";
    case HandshakeFailure::kPeerAlert: return "peer_alert";
    case HandshakeFailure::kProtocolError: return "protocol_error";
    case HandshakeFailure::kOther: return "other";
  }
  return "other";
}

HandshakeFailure classify_failure(const TlsError& e) {
  const int reason = ERR_GET_LIB(e.code) == ERR_LIB_SSL ? ERR_GET_REASON(e.code) : 0;
  switch (e.kind) {
    case ErrorKind::kTruncated: return HandshakeFailure::kClosed;
    case ErrorKind::kPeerAlert:
      // A client that cannot speak any version we offer says so with this alert.
      return reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ? HandshakeFailure::kUnsupportedVersion
                                                          : HandshakeFailure::kPeerAlert;
    case ErrorKind::kVerify: return HandshakeFailure::kClientCertificate;
    case ErrorKind::kNone:
    case ErrorKind::kInternal: return HandshakeFailure::kOther;
    case ErrorKind::kProtocol: break;
  }
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
      return HandshakeFailure::kUnsupportedVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUP:
    case SSL_R_NO_COMMON_SIGNATURE_ALGORITHMS:
      return HandshakeFailure::kNoSharedCipher;
    default:
      return HandshakeFailure::kProtocolError;
  }
}

// The BIO under every TlsConn: reads drain in_, writes append to out_. One
// BIO_METHOD for the process, created on first use.
struct ConnBio {
  static TlsConn* conn(BIO* b) { return static_cast<TlsConn*>(BIO_get_data(b)); }

  static int read(BIO* b, char* dst, int len) {
    BIO_clear_retry_flags(b);
    TlsConn* c = conn(b);
    if (!c || len <= 0) return 0;
    if (c->in_.empty()) {
      if (c->eof_) return 0;
      BIO_set_retry_read(b);
      return -1;
    }
    return static_cast<int>(c->in_.take(reinterpret_cast<uint8_t*>(dst), static_cast<size_t>(len)));
  }

  static int write(BIO* b, const char* src, int len) {
    BIO_clear_retry_flags(b);
    TlsConn* c = conn(b);
    if (!c || len < 0) return -1;
    // Always accepted: write() bounds what it encrypts; handshake flights and
    // alerts are bounded by BoringSSL itself.
    size_t n = c->out_.append(reinterpret_cast<const uint8_t*>(src), static_cast<size_t>(len),
                              SIZE_MAX);
    if (n != static_cast<size_t>(len)) return -1;  // out of memory
    return len;
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH: return 1;
      case BIO_CTRL_PENDING: return conn(b) ? static_cast<long>(conn(b)->in_.size()) : 0;
      case BIO_CTRL_WPENDING: return 0;
      default: return 0;
    }
  }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static const BIO_METHOD* method() {
    static const BIO_METHOD* m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portico_tls");
      if (!bm) return static_cast<BIO_METHOD*>(nullptr);
      BIO_meth_set_read(bm, read);
      BIO_meth_set_write(bm, write);
      BIO_meth_set_ctrl(bm, ctrl);
      BIO_meth_set_create(bm, create);
      return bm;
    }();
    return m;
  }
};

TlsConn::~TlsConn() { reset(); }

void TlsConn::reset() {
  if (ssl_) {
    SSL_free(ssl_);  // frees the BIO too
    ssl_ = nullptr;
  }
  in_.clear();
  out_.clear();
  subject_.clear();
  subject_.shrink_to_fit();
  client_ = nullptr;
  session_key_.clear();
  error_ = {};
  server_ = eof_ = done_ = closed_ = shutdown_sent_ = false;
}

bool TlsConn::init(SSL_CTX* ctx, bool server, const ConnLimits& limits) {
  reset();
  const BIO_METHOD* m = ConnBio::method();
  if (!m) return false;
  SSL* ssl = SSL_new(ctx);
  if (!ssl) {
    ERR_clear_error();
    return false;
  }
  BIO* bio = BIO_new(m);
  if (!bio) {
    SSL_free(ssl);
    ERR_clear_error();
    return false;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);  // one reference serves both directions
  if (server) SSL_set_accept_state(ssl); else SSL_set_connect_state(ssl);
  // Drop the certificate/config copies once the handshake is over: an idle
  // connection then holds only its keys, session and record state.
  SSL_set_shed_handshake_config(ssl, 1);
  ssl_ = ssl;
  server_ = server;
  limits_ = limits;
  return true;
}

size_t TlsConn::on_ciphertext(std::span<const uint8_t> data) {
  if (!ssl_ || error_ || eof_) return data.size();  // nothing will read it: discard
  return in_.append(data.data(), data.size(), limits_.max_input);
}

Status TlsConn::set_error(ErrorKind kind, const char* reason, uint32_t code) {
  if (!error_) error_ = TlsError{kind, reason, code};
  // A session that led to a failed handshake is not offered again.
  if (client_ && !done_) client_->forget(session_key_);
  return Status::kError;
}

Status TlsConn::fail(int ret) {
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return Status::kWantInput;
    case SSL_ERROR_ZERO_RETURN:
      closed_ = true;
      ERR_clear_error();
      return Status::kClosed;
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      return set_error(ErrorKind::kTruncated,
                       done_ ? "connection closed without close_notify"
                             : "connection closed during the handshake");
    case SSL_ERROR_SSL: {
      uint32_t e = ERR_peek_error();
      ErrorKind kind = ErrorKind::kProtocol;
      const char* reason = ERR_reason_error_string(e);
      if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
        int r = ERR_GET_REASON(e);
        if (r >= SSL_AD_REASON_OFFSET) {
          kind = ErrorKind::kPeerAlert;
        } else if (r == SSL_R_CERTIFICATE_VERIFY_FAILED) {
          kind = ErrorKind::kVerify;
          long v = SSL_get_verify_result(ssl_);
          if (v != X509_V_OK) reason = X509_verify_cert_error_string(v);
        } else if (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
          kind = ErrorKind::kVerify;
        }
      } else if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE) {
        kind = ErrorKind::kInternal;
      }
      ERR_clear_error();
      return set_error(kind, reason ? reason : "tls error", e);
    }
    default:
      ERR_clear_error();
      return set_error(ErrorKind::kInternal, "unexpected SSL_get_error result");
  }
}

void TlsConn::on_handshake_done() {
  done_ = true;
  // The verified peer subject (a client certificate on a server).
  if ((SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER) && SSL_get_verify_result(ssl_) == X509_V_OK) {
    bssl::UniquePtr<X509> peer(SSL_get_peer_certificate(ssl_));
    if (peer) subject_ = name_rfc2253(X509_get_subject_name(peer.get()));
  }
}

Status TlsConn::handshake() {
  if (!ssl_) return set_error(ErrorKind::kInternal, "connection not initialised");
  if (error_) return Status::kError;
  if (done_) return Status::kOk;
  // No ERR_clear_error() before SSL_do_handshake/SSL_read/SSL_write: each
  // resets the error queue itself (ssl_reset_error_state), and clearing it
  // again (16 slots freed and zeroed) cost 3% of a small TLS exchange.
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    on_handshake_done();
    return Status::kOk;
  }
  return fail(r);
}

IoResult TlsConn::read(std::span<uint8_t> out) {
  Status s = handshake();
  if (s != Status::kOk) return {s, 0};
  if (closed_) return {Status::kClosed, 0};
  if (out.empty()) return {Status::kOk, 0};
  int n = SSL_read(ssl_, out.data(), static_cast<int>(out.size() > INT_MAX ? INT_MAX : out.size()));
  if (n > 0) return {Status::kOk, static_cast<size_t>(n)};
  return {fail(n), 0};
}

IoResult TlsConn::write(std::span<const uint8_t> in) {
  if (!writable()) {
    Status s = handshake();
    if (s != Status::kOk) return {s, 0};
  }
  if (shutdown_sent_) return {set_error(ErrorKind::kInternal, "write after close_notify"), 0};
  size_t space = out_.size() < limits_.max_output ? limits_.max_output - out_.size() : 0;
  size_t n = in.size() < space ? in.size() : space;
  if (n > INT_MAX) n = INT_MAX;
  if (in.empty()) {
    // A zero-length write flushes what BoringSSL holds back: TLS 1.3 session
    // tickets wait for the server's first write otherwise.
    int w = SSL_write(ssl_, "", 0);
    return {w >= 0 ? Status::kOk : fail(w), 0};
  }
  if (n == 0) return {Status::kOk, 0};
  int w = SSL_write(ssl_, in.data(), static_cast<int>(n));
  if (w > 0) return {Status::kOk, static_cast<size_t>(w)};
  return {fail(w), 0};
}

void TlsConn::shutdown() {
  if (!writable() || shutdown_sent_) return;
  shutdown_sent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes close_notify into pending_output()
  ERR_clear_error();
}

std::string_view TlsConn::alpn() const {
  if (!ssl_) return {};
  const uint8_t* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

std::string_view TlsConn::sni() const {
  const char* s = ssl_ ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
  return s ? std::string_view(s) : std::string_view();
}

uint16_t TlsConn::version() const { return ssl_ && done_ ? SSL_version(ssl_) : 0; }

const char* TlsConn::version_name() const { return ssl_ && done_ ? SSL_get_version(ssl_) : ""; }

bool TlsConn::resumed() const { return ssl_ && done_ && SSL_session_reused(ssl_); }

}  // namespace portico::tls
