#pragma once
// Upstream HTTP/1.1 connections and the per-worker keep-alive pool.
// An UpstreamConn is driven by one UpstreamUser at a time (the downstream
// connection whose request it carries); while idle in the pool the pool
// itself watches it, so a backend that closes an idle connection (EOF,
// reset) is noticed and the connection dropped. Worker-thread only.

#include <unordered_map>
#include <vector>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/io/socket.hpp"

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
  bool connected() const { return connected_; }
  size_t queued() const { return out_.bytes(); }
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
};

class UpstreamPool {
 public:
  explicit UpstreamPool(io::Loop* loop) : loop_(loop) {}
  ~UpstreamPool();
  // An idle connection to `address`, or a new one being connected (the user
  // hears on_upstream_connected). nullptr only if no socket could be made.
  UpstreamConn* acquire(const conf::Address& address, UpstreamUser* user);
  // Done with a connection: kept idle when `reusable` and there is room.
  void release(UpstreamConn* c, bool reusable, uint32_t max_idle, TimeNs idle_timeout);
  size_t idle() const;
  io::Loop* loop() const { return loop_; }

 private:
  friend class UpstreamConn;
  void close(UpstreamConn* c);
  void forget_idle(UpstreamConn* c);

  io::Loop* loop_;
  std::unordered_map<io::PeerKey, std::vector<UpstreamConn*>, io::PeerKeyHash> idle_;
  size_t live_ = 0;
};

}  // namespace portico::http
