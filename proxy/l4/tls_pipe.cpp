#include "proxy/l4/tls_pipe.hpp"

#include <openssl/ssl.h>

#include <algorithm>

namespace portico::l4 {

TlsPipe::~TlsPipe() {
  if (spoke_ && !conn_.handshake_done()) count_failure(tls::HandshakeFailure::kClosed);
}

void TlsPipe::count_failure(tls::HandshakeFailure why) {
  if (counted_ || conn_.handshake_done()) return;
  counted_ = true;
  if (stats_) stats_->failed(why);
}

void TlsPipe::collect(io::BufferPool& pool, io::BufferQueue& wire) {
  while (conn_.has_output()) {
    auto out = conn_.pending_output();
    io::append(pool, wire, out.data(), out.size());
    conn_.consume_output(out.size());
  }
}

// Reads every plaintext byte the buffered ciphertext holds into `plain`,
// filling the tail buffer before taking another.
tls::Status TlsPipe::drain(io::BufferPool& pool, io::BufferQueue& plain, io::BufferQueue& wire) {
  tls::Status st = tls::Status::kOk;
  for (;;) {
    io::Buffer* b = plain.back();
    bool fresh = false;
    if (!b || b->len == pool.size()) {
      b = pool.acquire_any();
      b->len = b->off = 0;
      fresh = true;
    }
    tls::IoResult r = conn_.read({b->data + b->len, pool.size() - b->len});
    if (r.status == tls::Status::kOk && r.bytes > 0) {
      b->len += static_cast<uint32_t>(r.bytes);
      if (fresh) plain.push(b);
      else plain.added(static_cast<uint32_t>(r.bytes));
      continue;
    }
    if (fresh) pool.release(b);
    st = r.status == tls::Status::kOk ? tls::Status::kWantInput : r.status;
    break;
  }
  if (!counted_) {
    if (conn_.handshake_done()) {
      counted_ = true;
      if (stats_) stats_->completed(conn_.version() == TLS1_3_VERSION, conn_.resumed());
    } else if (st == tls::Status::kError && (spoke_ || conn_.error().kind != tls::ErrorKind::kTruncated)) {
      count_failure(tls::classify_failure(conn_.error()));
    }
  }
  // A TLS 1.3 server's session tickets are not flushed here: BoringSSL holds
  // them back until our first write, so they leave in the same send (and the
  // same segment) as the first response bytes instead of costing a send, a
  // segment and a wake-up of the client of their own.
  collect(pool, wire);
  return st;
}

tls::Status TlsPipe::deliver(io::BufferPool& pool, io::Buffer* b, io::BufferQueue& plain, io::BufferQueue& wire) {
  tls::Status st = tls::Status::kWantInput;
  // Bounded: every turn either takes input or ends (the input queue holds at
  // most a partial record once drained, and max_input exceeds a record).
  spoke_ |= b->remaining() > 0;
  for (int turn = 0; turn < 64; ++turn) {
    size_t taken = conn_.on_ciphertext({b->readable(), b->remaining()});
    b->off += static_cast<uint32_t>(taken);
    st = drain(pool, plain, wire);
    if (st != tls::Status::kWantInput || b->remaining() == 0) break;
    if (taken == 0) {
      st = tls::Status::kError;  // cannot happen with sane limits; never spin
      break;
    }
  }
  pool.release(b);
  return st == tls::Status::kWantInput ? tls::Status::kOk : st;
}

tls::Status TlsPipe::on_eof(io::BufferPool& pool, io::BufferQueue& plain, io::BufferQueue& wire) {
  conn_.on_eof();
  tls::Status st = drain(pool, plain, wire);
  if (st == tls::Status::kWantInput || st == tls::Status::kOk) st = tls::Status::kError;
  return st;
}

tls::Status TlsPipe::encrypt(io::BufferPool& pool, io::BufferQueue& plain, io::BufferQueue& wire, size_t wire_cap) {
  tls::Status st = tls::Status::kOk;
  while (!plain.empty() && wire.bytes() < wire_cap) {
    io::Buffer* b = plain.front();
    if (b->remaining() == 0) {
      pool.release(plain.pop());
      continue;
    }
    tls::IoResult r = conn_.write({b->readable(), b->remaining()});
    if (r.status != tls::Status::kOk) {
      st = r.status;
      break;
    }
    b->off += static_cast<uint32_t>(r.bytes);
    plain.consumed(static_cast<uint32_t>(r.bytes));
    if (b->remaining() == 0) pool.release(plain.pop());
    collect(pool, wire);
    if (r.bytes == 0) break;  // TlsConn's output full; collected now, next call goes on
  }
  collect(pool, wire);
  return st;
}

void TlsPipe::shutdown(io::BufferPool& pool, io::BufferQueue& wire) {
  conn_.shutdown();
  collect(pool, wire);
}

}  // namespace portico::l4
