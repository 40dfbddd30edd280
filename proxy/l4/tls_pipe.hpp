#pragma once
// The TLS seam of a stream connection: a TlsConn plus the moves between it and
// the loop's pool buffers. Received ciphertext buffers go in, plaintext comes
// out appended to a BufferQueue; plaintext queued for the peer is encrypted
// into a queue of ciphertext buffers that the owner sends with sendmsg. The
// owner never sends from TlsConn's own queue, so BoringSSL may append to it
// while a send is in flight. Owned by one connection (heap, only TLS
// connections pay for it); worker thread only.
//
// With a listener's TlsListenerStats (server side) the pipe counts the
// handshake once: completed (by version and resumption) or failed (why). A
// pipe destroyed mid-handshake after the client sent something counts as
// `closed`; one whose client never sent a byte and just went away counts
// nothing (port probes, TCP health checks).

#include <cstdint>

#include "proxy/io/buffer_pool.hpp"
#include "proxy/l4/stats.hpp"
#include "proxy/tls/tls_conn.hpp"

namespace portico::l4 {

class TlsPipe {
 public:
  // `stats`: this worker's slot of the listener (null: not counted, e.g. upstream).
  explicit TlsPipe(TlsListenerStats* stats = nullptr) : stats_(stats) {}
  ~TlsPipe();
  TlsPipe(const TlsPipe&) = delete;
  TlsPipe& operator=(const TlsPipe&) = delete;

  tls::TlsConn& conn() { return conn_; }
  const tls::TlsConn& conn() const { return conn_; }
  bool handshake_done() const { return conn_.handshake_done(); }

  // Takes ownership of `b` (released). Appends decrypted bytes to `plain` and
  // handshake flights / alerts to `wire`. Returns kOk (more may come), kClosed
  // (close_notify: no more plaintext) or kError (send `wire`, then close).
  tls::Status deliver(io::BufferPool& pool, io::Buffer* b, io::BufferQueue& plain, io::BufferQueue& wire);
  // The transport reached EOF: returns kClosed after a close_notify, else kError
  // (kTruncated), after appending any plaintext still buffered.
  tls::Status on_eof(io::BufferPool& pool, io::BufferQueue& plain, io::BufferQueue& wire);
  // Encrypts from the front of `plain` (consumed) until it is empty or `wire`
  // holds `wire_cap` bytes. kWantInput while the handshake is not finished
  // (nothing taken), kError on failure.
  tls::Status encrypt(io::BufferPool& pool, io::BufferQueue& plain, io::BufferQueue& wire, size_t wire_cap);
  // Queues close_notify into `wire` (once, after the handshake).
  void shutdown(io::BufferPool& pool, io::BufferQueue& wire);
  // The owner's handshake deadline passed: counts a `timeout` failure (once).
  void handshake_timed_out() { count_failure(tls::HandshakeFailure::kTimeout); }
  // True once, right after the handshake completed (for the owner's bookkeeping).
  bool take_handshake_event() {
    bool e = conn_.handshake_done() && !reported_;
    reported_ |= e;
    return e;
  }

 private:
  tls::Status drain(io::BufferPool& pool, io::BufferQueue& plain, io::BufferQueue& wire);
  void collect(io::BufferPool& pool, io::BufferQueue& wire);
  void count_failure(tls::HandshakeFailure why);

  tls::TlsConn conn_;
  TlsListenerStats* stats_;
  bool spoke_ = false;    // the peer sent at least one byte
  bool counted_ = false;  // the handshake's outcome is counted
  bool reported_ = false;
};

}  // namespace portico::l4
