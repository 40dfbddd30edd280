#pragma once
// Results of TLS operations on the data path (no exceptions): a Status for
// every call, and a TlsError saying why when the Status is kError. Plain
// values; any thread.

#include <cstddef>
#include <cstdint>

namespace portico::tls {

enum class Status : uint8_t {
  kOk,         // progress: handshake complete, or bytes read / accepted
  kWantInput,  // nothing more to do until more ciphertext arrives
  kClosed,     // the peer sent close_notify (clean end of stream)
  kError,      // fatal; TlsConn::error() says why. Send pending_output() (an alert), then close.
};

enum class ErrorKind : uint8_t {
  kNone,
  kProtocol,   // malformed or unexpected TLS input, unsupported version, no shared cipher ...
  kPeerAlert,  // the peer sent a fatal alert
  kVerify,     // the peer's certificate failed verification (or was required and missing)
  kTruncated,  // the transport ended without close_notify
  kInternal,   // allocation failure, misuse
};

struct TlsError {
  ErrorKind kind = ErrorKind::kNone;
  const char* reason = "";  // static string (BoringSSL reason or ours); never freed
  uint32_t code = 0;        // BoringSSL's packed error (ERR_peek_error), 0 if none

  explicit operator bool() const { return kind != ErrorKind::kNone; }
};

const char* kind_name(ErrorKind k);

// Why a server-side handshake did not complete: the small fixed set of
// reasons the metrics report (portico_tls_handshake_failures_total).
enum class HandshakeFailure : uint8_t {
  kTimeout,            // the listener's timeouts.handshake passed
  kClosed,             // the connection ended mid-handshake (client closed/reset it, drain ...)
  kUnsupportedVersion, // SSLv2/SSLv3/TLS 1.0/1.1, or below min_version
  kNoSharedCipher,     // no common cipher suite, group or signature algorithm
  kClientCertificate,  // client certificate missing (required) or not trusted
  kPeerAlert,          // the client sent a fatal alert (e.g. it rejected our certificate)
  kProtocolError,      // anything else malformed or unexpected (garbage, plain HTTP ...)
  kOther,              // internal errors (allocation ...)
};
inline constexpr size_t kHandshakeFailureCount = 8;
// The label value: "timeout", "closed", "unsupported_version", ...
const char* failure_name(HandshakeFailure f);
// Classifies a handshake error (TlsConn::error()).
HandshakeFailure classify_failure(const TlsError& e);

// Result of TlsConn::read and TlsConn::write: bytes is > 0 only with kOk.
struct IoResult {
  Status status = Status::kOk;
  size_t bytes = 0;
};

}  // namespace portico::tls
