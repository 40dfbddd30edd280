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

  explicit operator bool() const { return kind != ErrorKind::kNone; }
};

const char* kind_name(ErrorKind k);

// Result of TlsConn::read and TlsConn::write: bytes is > 0 only with kOk.
struct IoResult {
  Status status = Status::kOk;
  size_t bytes = 0;
};

}  // namespace portico::tls
