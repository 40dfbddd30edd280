// DNS over TCP: the acceptor, client connections (length-prefixed, pipelined,
// bounded, idle timeout) and the per-token upstream connection (TC retry).
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/modules/dns_parts.hpp"

namespace portico::modules {

namespace {

constexpr TimeNs kAcceptBackoff = 100 * kNsPerMs;
constexpr size_t kMaxMessage = 65535;
// A connection with queries still upstream or replies unsent gets this much
// longer than tcp_idle before it is closed anyway.
constexpr TimeNs kBusyGrace = 30 * kNsPerSec;

void append_prefixed(std::vector<uint8_t>& out, std::span<const uint8_t> msg) {
  out.push_back(static_cast<uint8_t>(msg.size() >> 8));
  out.push_back(static_cast<uint8_t>(msg.size() & 0xff));
  out.insert(out.end(), msg.begin(), msg.end());
}

}  // namespace

// ---------------------------------------------------------- TcpAcceptor --

DnsModule::TcpAcceptor::TcpAcceptor(DnsModule* m, const DnsWorkerConfig::Socket& s)
    : Part(m), where_(s), fd_(s.tcp_fd), accept_(this, 0), backoff_(this, 0) {}

DnsModule::TcpAcceptor::~TcpAcceptor() {
  loop()->timers().cancel(backoff_);
  if (fd_ >= 0) loop()->close(fd_);
}

void DnsModule::TcpAcceptor::start() {
  if (!accept_.armed() && !closing_ && !backoff_.armed()) loop()->accept(accept_, fd_);
}

void DnsModule::TcpAcceptor::close() {
  closing_ = true;
  loop()->timers().cancel(backoff_);
  loop()->cancel(accept_);
}

void DnsModule::TcpAcceptor::on_complete(io::Op&, int res) {
  if (res >= 0) {
    if (closing_) loop()->close(res);  // accepted after the cancel: still an fd to close
    else m_->on_accept(res);
    if (closing_) closing_completion();
    return;
  }
  if (closing_) {
    closing_completion();
    return;
  }
  if (res == -ECANCELED) return;
  // EMFILE, ENFILE, ENOBUFS...: back off instead of spinning.
  LOG_WARN("dns: tcp accept on %s: %s; retrying in 100ms", where_.address.str().c_str(), std::strerror(-res));
  loop()->timers().arm(backoff_, loop()->now() + kAcceptBackoff);
}

void DnsModule::TcpAcceptor::on_timer(io::Timer&) {
  if (!closing_ && !accept_.armed()) loop()->accept(accept_, fd_);
}

// ------------------------------------------------------------ TcpClient --

DnsModule::TcpClient::TcpClient(DnsModule* m, int fd, uint64_t conn_id)
    : Part(m), fd_(fd), conn_id_(conn_id), recv_(this, kRecv), send_(this, kSend), idle_(this, 0) {
  socklen_t len = sizeof peer_.addr;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer_.addr), &len) == 0) peer_.len = len;
  peer_.transport = dnscache::Transport::kTcp;
  peer_.conn_id = conn_id_;
}

DnsModule::TcpClient::~TcpClient() {
  loop()->timers().cancel(idle_);
  if (fd_ >= 0) loop()->close(fd_);
}

void DnsModule::TcpClient::start() {
  io::set_nodelay(fd_);
  last_activity_ = loop()->now();
  loop()->timers().arm(idle_, last_activity_ + m_->tcp_idle_.count());
  loop()->recv(recv_, fd_);
}

void DnsModule::TcpClient::close() {
  closing_ = true;
  loop()->timers().cancel(idle_);
  loop()->cancel(recv_);
  loop()->cancel(send_);
}

void DnsModule::TcpClient::on_complete(io::Op& op, int res) {
  if (op.tag() == kRecv) {
    if (res > 0) {
      io::Buffer* b = op.take_buffer();
      if (!closing_ && !eof_) on_data(b->data, static_cast<size_t>(res));
      loop()->pool().release(b);
    } else if (!closing_) {
      if (res == 0) {
        eof_ = true;  // answer what was asked, then close
        maybe_finish();
      } else if (res == -ECANCELED) {
        paused_ = false;
        update_reading();
      } else {
        LOG_DEBUG("dns: tcp client recv: %s", std::strerror(-res));
        m_->client_closed(conn_id_);
      }
    }
  } else if (!closing_) {  // kSend
    if (res < 0) {
      LOG_DEBUG("dns: tcp client send: %s", std::strerror(-res));
      m_->client_closed(conn_id_);
    } else {
      last_activity_ = loop()->now();
      sent_ += static_cast<size_t>(res);
      if (sent_ >= sending_.size()) {
        sending_.clear();
        sent_ = 0;
      }
      flush();
      handle_messages();  // output room may let buffered queries go on
      maybe_finish();
    }
  }
  if (closing_) closing_completion();
}

// Bytes alone do not count as activity: a client dribbling one byte at a
// time (slowloris) would keep its connection, and a slot of tcp_clients,
// forever. A whole message does (handle_messages), as does a reply sent.
void DnsModule::TcpClient::on_data(const uint8_t* data, size_t len) {
  in_.insert(in_.end(), data, data + len);
  handle_messages();
}

void DnsModule::TcpClient::handle_messages() {
  size_t off = 0;
  const DnsLimits& lim = m_->limits_;
  while (!closing_ && in_flight_ < lim.tcp_pipeline && queued() < lim.tcp_output && in_.size() - off >= 2) {
    const size_t len = (size_t{in_[off]} << 8) | in_[off + 1];
    if (in_.size() - off - 2 < len) break;
    ++m_->glue_.tcp_queries;
    const uint64_t dropped = m_->engine_ ? m_->engine_->stats().dropped : 0;
    m_->current_client_ = this;
    m_->current_replied_ = false;
    m_->client_query({in_.data() + off + 2, len}, peer_);
    const bool replied = m_->current_replied_;
    m_->current_client_ = nullptr;
    off += 2 + len;
    // Neither answered nor dropped: it went upstream and its reply comes later.
    if (!replied && m_->engine_ && m_->engine_->stats().dropped == dropped) ++in_flight_;
  }
  if (off > 0) last_activity_ = loop()->now();
  in_.erase(in_.begin(), in_.begin() + static_cast<long>(off));
  // At most one message plus what one receive brought beyond it; a client that
  // keeps sending while we wait for room is cut off.
  if (in_.size() > 2 * (2 + kMaxMessage) + loop()->pool().size()) {
    LOG_DEBUG("dns: tcp client sends faster than it reads its replies; closing");
    m_->client_closed(conn_id_);
    return;
  }
  update_reading();
  maybe_finish();
}

bool DnsModule::TcpClient::reply(std::span<const uint8_t> bytes, bool synchronous) {
  if (closing_) return false;
  if (!synchronous && in_flight_ > 0) --in_flight_;
  if (bytes.size() > kMaxMessage) return false;  // cannot be framed; the engine never makes one
  // Reading pauses at tcp_output; replies to queries already in flight may go
  // beyond it, up to a hard bound.
  if (queued() + bytes.size() + 2 > 4 * m_->limits_.tcp_output + 2 + kMaxMessage) {
    LOG_DEBUG("dns: tcp client does not read its replies; closing");
    m_->client_closed(conn_id_);
    return false;
  }
  append_prefixed(pending_out_, bytes);
  flush();
  // The pipeline has room again: buffered queries can go on (after dispatch).
  return !synchronous && in_.size() >= 2;
}

void DnsModule::TcpClient::flush() {
  if (closing_ || send_.armed()) return;
  if (sending_.empty()) {
    if (pending_out_.empty()) return;
    sending_.swap(pending_out_);
    sent_ = 0;
  }
  loop()->send(send_, fd_, sending_.data() + sent_, sending_.size() - sent_);
}

void DnsModule::TcpClient::update_reading() {
  if (closing_) return;
  const DnsLimits& lim = m_->limits_;
  const bool want = !eof_ && in_flight_ < lim.tcp_pipeline && queued() < lim.tcp_output;
  if (want && !recv_.armed()) {
    loop()->recv(recv_, fd_);
  } else if (!want && recv_.armed() && !paused_) {
    paused_ = true;  // back-pressure: the final -ECANCELED completion re-checks
    loop()->cancel(recv_);
  }
}

void DnsModule::TcpClient::maybe_finish() {
  if (closing_ || !eof_ || in_flight_ > 0 || queued() > 0 || send_.armed()) return;
  m_->client_closed(conn_id_);
}

void DnsModule::TcpClient::on_timer(io::Timer&) {
  if (closing_) return;
  const bool busy_now = in_flight_ > 0 || queued() > 0;
  const TimeNs deadline = last_activity_ + m_->tcp_idle_.count() + (busy_now ? kBusyGrace : 0);
  if (loop()->now() < deadline) {
    loop()->timers().arm(idle_, deadline);
    return;
  }
  ++m_->glue_.tcp_idle_closed;
  LOG_DEBUG("dns: tcp client idle; closing");
  m_->client_closed(conn_id_);
}

// ---------------------------------------------------------- UpstreamTcp --

DnsModule::UpstreamTcp::UpstreamTcp(DnsModule* m, uint32_t token, const dnscache::Peer& to, int fd)
    : Part(m), token_(token), to_(to), fd_(fd), connect_(this, kConnect), send_(this, kSend),
      recv_(this, kRecv) {}

DnsModule::UpstreamTcp::~UpstreamTcp() {
  if (fd_ >= 0) loop()->close(fd_);
}

void DnsModule::UpstreamTcp::start(std::span<const uint8_t> query) {
  append_prefixed(out_, query);
  loop()->connect(connect_, fd_, reinterpret_cast<const sockaddr*>(&to_.addr), to_.len);
}

void DnsModule::UpstreamTcp::close() {
  closing_ = true;
  loop()->cancel(connect_);
  loop()->cancel(send_);
  loop()->cancel(recv_);
}

void DnsModule::UpstreamTcp::fail(const char* what, int err) {
  // Stop using the connection; the engine moves on to the next upstream now
  // (a refused, reset or early-closed connection will not answer).
  if (done_) return;
  LOG_DEBUG("dns: upstream tcp %s: %s", what, err ? std::strerror(err) : "closed early");
  ++m_->glue_.upstream_socket_errors;
  done_ = true;
  loop()->cancel(send_);
  loop()->cancel(recv_);
  m_->upstream_error(token_);  // may close this
}

void DnsModule::UpstreamTcp::on_complete(io::Op& op, int res) {
  io::Buffer* b = (op.tag() == kRecv && res > 0) ? op.take_buffer() : nullptr;
  if (!closing_ && !done_) {
    switch (op.tag()) {
      case kConnect:
        if (res < 0) {
          fail("connect", -res);
          break;
        }
        io::set_nodelay(fd_);
        loop()->send(send_, fd_, out_.data(), out_.size());
        loop()->recv(recv_, fd_);
        break;
      case kSend:
        if (res < 0) {
          fail("send", -res);
          break;
        }
        sent_ += static_cast<size_t>(res);
        if (sent_ < out_.size()) loop()->send(send_, fd_, out_.data() + sent_, out_.size() - sent_);
        break;
      case kRecv:
        if (!b) {
          fail("recv", res < 0 ? -res : 0);
          break;
        }
        in_.insert(in_.end(), b->data, b->data + res);
        if (in_.size() >= 2) {
          const size_t len = (size_t{in_[0]} << 8) | in_[1];
          if (in_.size() >= 2 + len) {
            done_ = true;
            loop()->cancel(recv_);
            m_->upstream_reply({in_.data() + 2, len}, to_, token_);  // may close this
          }
        }
        break;
    }
  }
  if (b) loop()->pool().release(b);
  if (closing_) closing_completion();
}

}  // namespace portico::modules
