#pragma once
// One TLS connection without I/O (sans-I/O): the caller feeds ciphertext it
// received (on_ciphertext), sends what pending_output() holds, and moves
// plaintext with read()/write(). Wraps a BoringSSL SSL* over a custom BIO that
// reads from / writes to two bounded byte queues. Embedded in (owned by) the
// connection object; initialised in place by ServerContext::accept or
// ClientContext::connect; never moved; used by that connection's worker only.
// Handshake deadlines are the caller's (arm a timer, drop the connection).

#include <openssl/base.h>  // SSL, SSL_CTX

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/tls/byte_queue.hpp"
#include "proxy/tls/status.hpp"

namespace portico::tls {

class ClientContext;

// Per-connection buffering bounds.
struct ConnLimits {
  size_t max_input = 32 * 1024;   // ciphertext held before on_ciphertext() accepts no more
  size_t max_output = 64 * 1024;  // ciphertext queued before write() accepts no more
};

class TlsConn {
 public:
  TlsConn() = default;
  ~TlsConn();
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // True between a successful accept()/connect() and reset().
  bool active() const { return ssl_ != nullptr; }
  // Frees the SSL and the buffers; the object can be initialised again.
  void reset();

  // ---- transport side ----
  // Buffers ciphertext from the peer; returns how many bytes were taken (less
  // than data.size() when max_input is reached: call read()/handshake() to
  // drain, then offer the rest again). After an error or on_eof() input is
  // discarded (and reported as taken).
  size_t on_ciphertext(std::span<const uint8_t> data);
  // The transport reached EOF: no more ciphertext will come.
  void on_eof() { eof_ = true; }
  // Ciphertext to send to the peer (handshake flights, records, alerts).
  std::span<const uint8_t> pending_output() const { return out_.front(); }
  void consume_output(size_t n) { out_.consume(n); }
  bool has_output() const { return !out_.empty(); }

  // ---- application side ----
  // Drives the handshake: kOk once complete, kWantInput, kClosed or kError.
  Status handshake();
  // Plaintext from the peer (drives the handshake first). kOk with bytes > 0,
  // kWantInput (feed more ciphertext), kClosed (close_notify), kError.
  IoResult read(std::span<uint8_t> out);
  // Encrypts plaintext into pending_output(). kOk with the number of bytes
  // accepted: 0 when pending output already holds max_output bytes (send it
  // first). kWantInput while the handshake is still in progress. BoringSSL
  // sends a TLS 1.3 server's session tickets with its first write; an empty
  // write() sends them at once.
  IoResult write(std::span<const uint8_t> in);
  // Queues close_notify (once; a no-op unless writable()).
  void shutdown();

  // ---- state ----
  bool handshake_done() const { return done_; }
  // The sending side still works: after the handshake, and either no error or
  // only the peer's EOF without close_notify (kTruncated). A truncation ends
  // what can be read, not what can be written: a client that half-closes the
  // TCP connection after its request still gets the response.
  bool writable() const { return ssl_ && done_ && (!error_ || error_.kind == ErrorKind::kTruncated); }
  bool is_server() const { return server_; }
  std::string_view alpn() const;   // negotiated protocol, "" if none
  std::string_view sni() const;    // server: name the client asked for; client: name sent
  uint16_t version() const;        // TLS1_2_VERSION, TLS1_3_VERSION; 0 before the handshake
  const char* version_name() const;
  bool resumed() const;
  // RFC 2253 subject of the peer's verified certificate ("" if none or not
  // verified). On a server with client_auth this is the client certificate.
  std::string_view peer_subject() const { return subject_; }
  bool close_notify_received() const { return closed_; }
  const TlsError& error() const { return error_; }
  size_t buffered_input() const { return in_.size(); }
  // Bytes held by the two queues right now (0 when idle).
  size_t buffer_capacity() const { return in_.capacity() + out_.capacity(); }
  SSL* native() const { return ssl_; }

 private:
  friend class ServerContext;
  friend class ClientContext;
  friend struct ConnBio;

  bool init(SSL_CTX* ctx, bool server, const ConnLimits& limits);
  Status fail(int ret);
  void on_handshake_done();
  Status set_error(ErrorKind kind, const char* reason, uint32_t code = 0);

  SSL* ssl_ = nullptr;
  ByteQueue in_;
  ByteQueue out_;
  ConnLimits limits_;
  std::string subject_;
  // Client side: where new sessions for this connection's endpoint go.
  ClientContext* client_ = nullptr;
  std::string session_key_;
  TlsError error_;
  bool server_ = false;
  bool eof_ = false;
  bool done_ = false;
  bool closed_ = false;
  bool shutdown_sent_ = false;
};

}  // namespace portico::tls
