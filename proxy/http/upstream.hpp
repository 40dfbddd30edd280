#pragma once
// Upstream HTTP/1.1 connections and the per-worker keep-alive pool.
// An UpstreamConn is driven by one UpstreamUser at a time (the downstream
// connection whose request it carries); while idle in the pool the pool
// itself watches it, so a backend that closes an idle connection (EOF,
// reset) is noticed and the connection dropped. Worker-thread only.
// With cluster tls the connection runs TLS (a TlsPipe between the socket and
// the user, who sees plaintext only); it counts as connected once the
// handshake is done, and is pooled per endpoint and client context.

#include <memory>
#include <unordered_map>
#include <vector>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/l4/tls_pipe.hpp"
#include "proxy/tls/client_context.hpp"

namespace portico::http {

class UpstreamConn;

class UpstreamUser {
 public:
  virtual void on_upstream_connected(UpstreamConn& c, int res) = 0;
  // Data from the upstream: the callee owns the buffer.
  virtual void on_upstream_data(UpstreamConn& c, io::Buffer* b) = 0;
  // The upstream's receive side ended: 0 = EOF, <0 = error.
  virtual void on_upstream_closed(UpstreamConn& c, int res) = 0;
  // Every byte queued with send() has been written (res >= 0), or a write failed (< 0).
  virtual void on_upstream_drained(UpstreamConn& c, int res) = 0;

 protected:
  ~UpstreamUser() = default;
};

class UpstreamPool;

class UpstreamConn final : private io::OpHandler, private io::TimerHandler {
 public:
  const io::PeerKey& key() const { return key_; }
  const conf::Address& address() const { return address_; }
  bool reused() const { return reused_; }
  bool connected() const { return connected_ && (!tls_ || tls_->handshake_done()); }
  // TCP connected, TLS handshake not finished: a failure now is a TLS one.
  bool in_tls_handshake() const { return tls_ && !tls_->handshake_done(); }
  size_t queued() const { return out_.bytes() + plain_out_.bytes(); }
  int fd() const { return fd_; }
  // Queues bytes for the upstream (copied into pool buffers) and sends.
  void send(const void* data, size_t len);
  void shutdown_write();
  // Stop / resume delivering data (back-pressure from the client side).
  void pause_recv();
  void resume_recv();

 private:
  friend class UpstreamPool;
  UpstreamConn(UpstreamPool* pool, const conf::Address& a, int fd);
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  void flush();
  void maybe_destroy();
  // TLS seam: starts the handshake; takes received ciphertext; encrypts.
  void tls_start();
  void tls_deliver(io::Buffer* b);
  void tls_failed();

  UpstreamPool* pool_;
  conf::Address address_;
  io::PeerKey key_;
  int fd_;
  io::Op connect_;
  io::Op recv_;
  io::Op send_;
  io::Timer idle_timer_;
  io::BufferQueue out_;
  iovec iov_[8];
  msghdr msg_{};
  UpstreamUser* user_ = nullptr;
  bool connected_ = false;
  bool reused_ = false;
  bool closing_ = false;
  bool paused_ = false;
  bool pause_cancel_ = false;  // recv_ cancelled by pause_recv(), final completion pending
  bool eof_ = false;  // receive side finished (final recv completion seen)
  // TLS (null: plain text)
  std::shared_ptr<tls::ClientContext> tls_ctx_;  // shared: may outlive the generation
  std::unique_ptr<l4::TlsPipe> tls_;
  std::string tls_name_;      // verified name (sni, else the endpoint's IP)
  io::BufferQueue plain_out_;  // plaintext not encrypted yet (out_ holds ciphertext)
  io::BufferQueue plain_in_;   // scratch: plaintext decrypted from one receive
  bool shut_after_flush_ = false;
  bool tls_broken_ = false;
};

class UpstreamPool {
 public:
  explicit UpstreamPool(io::Loop* loop) : loop_(loop) {}
  ~UpstreamPool();
  // An idle connection to `address`, or a new one being connected (the user
  // hears on_upstream_connected). nullptr only if no socket could be made.
  // With `tls`, the connection runs TLS with that (cluster's) context;
  // `name` is what is sent as SNI and verified (the config's sni wins).
  UpstreamConn* acquire(const conf::Address& address, UpstreamUser* user,
                        const std::shared_ptr<tls::ClientContext>& tls = nullptr, std::string_view name = {});
  // Done with a connection: kept idle when `reusable` and there is room.
  void release(UpstreamConn* c, bool reusable, uint32_t max_idle, TimeNs idle_timeout);
  size_t idle() const;
  io::Loop* loop() const { return loop_; }

 private:
  friend class UpstreamConn;
  void close(UpstreamConn* c);
  void forget_idle(UpstreamConn* c);

  io::Loop* loop_;
  struct Key {
    io::PeerKey peer;
    const tls::ClientContext* tls;  // plain-text and TLS connections never mix
    bool operator==(const Key& o) const { return tls == o.tls && peer == o.peer; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return io::PeerKeyHash{}(k.peer) ^ (std::hash<const void*>{}(k.tls) * 0x9e3779b97f4a7c15ull);
    }
  };
  std::unordered_map<Key, std::vector<UpstreamConn*>, KeyHash> idle_;
  size_t live_ = 0;
};

}  // namespace portico::http
