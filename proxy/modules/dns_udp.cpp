// DNS over UDP: the client-facing socket (recvmsg/sendmsg, destination address
// kept on wildcard binds) and the per-token upstream socket.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/modules/dns_parts.hpp"

namespace portico::modules {

namespace {

constexpr size_t kMaxDatagram = 65536;

// Errors after which receiving again makes sense (anything else stops the socket).
bool transient(int err) {
  return err == EINTR || err == EAGAIN || err == ENOMEM || err == ENOBUFS || err == ECONNREFUSED ||
         err == EHOSTUNREACH || err == ENETUNREACH || err == EMSGSIZE;
}

}  // namespace

// ------------------------------------------------------------ UdpServer --

DnsModule::UdpServer::UdpServer(DnsModule* m, const DnsWorkerConfig::Socket& s, uint32_t id, uint32_t batch)
    : Part(m), fd_(s.udp_fd), id_(id), wildcard_(io::is_wildcard(s.address.sa())), batch_(std::max<uint32_t>(batch, 1)),
      recv_(this, kRecv), rx_(batch_), rx_vec_(batch_),
      rx_bytes_(std::make_unique_for_overwrite<uint8_t[]>(size_t{batch_} * kMaxDatagram)),
      ring_sends_(loop()->backend() == io::Backend::kIoUring), tx_slots_(size_t{batch_} * (ring_sends_ ? 2 : 1)),
      tx_(tx_slots_), tx_vec_(tx_slots_), tx_bytes_(std::make_unique_for_overwrite<uint8_t[]>(tx_slots_ * kReplySlot)),
      tx_ops_(ring_sends_ ? tx_slots_ : 0) {
  for (size_t i = 0; i < tx_ops_.size(); ++i) {
    tx_ops_[i].bind(this, kSend);
    tx_free_.push_back(static_cast<uint32_t>(tx_slots_ - 1 - i));
  }
  if (wildcard_) {
    io::enable_pktinfo(fd_, s.address.family());  // replies leave from the address asked
  }
}

DnsModule::UdpServer::~UdpServer() {
  if (fd_ >= 0) loop()->close(fd_);
}

void DnsModule::UdpServer::start() {
  if (!recv_.armed() && !closing_) arm();
}

void DnsModule::UdpServer::arm() {
  // recvmmsg writes msg_namelen, msg_controllen, msg_flags and msg_len of the
  // slots it fills: only those need resetting (all of them the first time).
  const uint32_t dirty = std::min(rx_dirty_, batch_);
  rx_dirty_ = 0;
  for (uint32_t i = 0; i < dirty; ++i) {
    Rx& r = rx_[i];
    r.iov = {rx_bytes_.get() + size_t{i} * kMaxDatagram, kMaxDatagram};
    msghdr& mh = rx_vec_[i].msg_hdr;
    mh = {};
    mh.msg_name = &r.peer;
    mh.msg_namelen = sizeof r.peer;
    mh.msg_iov = &r.iov;
    mh.msg_iovlen = 1;
    if (wildcard_) {
      mh.msg_control = r.control;
      mh.msg_controllen = sizeof r.control;
    }
    rx_vec_[i].msg_len = 0;
  }
  loop()->recvmmsg(recv_, fd_, rx_vec_.data(), batch_);
}

void DnsModule::UdpServer::close() {
  closing_ = true;
  loop()->cancel(recv_);
  for (io::Op& op : tx_ops_) loop()->cancel(op);
}

void DnsModule::UdpServer::on_sent(io::Op& op, int res) {
  --tx_in_flight_;
  tx_free_.push_back(static_cast<uint32_t>(&op - tx_ops_.data()));
  if (res < 0) {
    ++m_->glue_.udp_send_errors;
    LOG_DEBUG("dns: udp reply: %s", std::strerror(-res));
  }
  if (closing_) closing_completion();
}

void DnsModule::UdpServer::on_complete(io::Op& op, int res) {
  if (op.tag() == kSend) {
    on_sent(op, res);
    return;
  }
  if (closing_) {
    closing_completion();
    return;
  }
  if (res > 0) {
    // Replies to this batch are queued and leave together (flush), unless the
    // socket gets closed meanwhile (a handler cannot close it: only reloads do).
    in_batch_ = true;
    rx_dirty_ = static_cast<uint32_t>(res);
    for (int i = 0; i < res && i < static_cast<int>(batch_); ++i) handle(i, rx_vec_[i].msg_len);
    in_batch_ = false;
    flush();
  } else {
    rx_dirty_ = batch_;  // rare: reset every slot before trying again
  }
  if (res < 0 && res != -ECANCELED && !transient(-res)) {
    LOG_WARN("dns: udp recvmmsg: %s; this socket stops serving", std::strerror(-res));
    return;
  }
  if (!closing_) arm();
}

void DnsModule::UdpServer::handle(size_t i, size_t len) {
  ++m_->glue_.udp_queries;
  msghdr& mh = rx_vec_[i].msg_hdr;
  if (mh.msg_flags & MSG_TRUNC) {
    ++m_->glue_.udp_oversized;
    return;
  }
  dnscache::Peer p;
  std::memcpy(&p.addr, &rx_[i].peer, std::min<size_t>(mh.msg_namelen, sizeof p.addr));
  p.len = mh.msg_namelen;
  p.transport = dnscache::Transport::kUdp;
  // The engine echoes conn_id: which socket, and which local address to answer from.
  p.conn_id = (uint64_t{id_} << 32) | local_slot(mh);
  m_->client_query({static_cast<const uint8_t*>(rx_[i].iov.iov_base), len}, p);
}

uint32_t DnsModule::UdpServer::local_slot(msghdr& mh) {
  if (!wildcard_) return 0;
  const io::LocalAddr l = io::read_pktinfo(mh);
  if (l.family == 0) return 0;
  for (size_t i = 0; i < locals_.size(); ++i)
    if (locals_[i] == l) return static_cast<uint32_t>(i + 1);
  if (locals_.size() >= m_->limits_.udp_locals) return 0;  // the kernel picks the source
  locals_.push_back(l);
  return static_cast<uint32_t>(locals_.size());
}

void DnsModule::UdpServer::address(msghdr& mh, const dnscache::Peer& peer, uint32_t local, uint8_t* control) {
  mh.msg_name = const_cast<sockaddr_storage*>(&peer.addr);
  mh.msg_namelen = peer.len;
  io::set_pktinfo(mh, local == 0 || local > locals_.size() ? io::LocalAddr{} : locals_[local - 1], control);
}

void DnsModule::UdpServer::fill(size_t i, std::span<const uint8_t> bytes, const dnscache::Peer& peer,
                                uint32_t local) {
  Tx& t = tx_[i];
  uint8_t* data = tx_bytes_.get() + i * kReplySlot;
  std::memcpy(data, bytes.data(), bytes.size());
  std::memcpy(&t.peer, &peer.addr, sizeof t.peer);
  t.iov = {data, bytes.size()};
  msghdr& mh = tx_vec_[i].msg_hdr;
  mh = {};
  mh.msg_iov = &t.iov;
  mh.msg_iovlen = 1;
  address(mh, peer, local, t.control);
  mh.msg_name = &t.peer;  // the queued copy, not the engine's
}

void DnsModule::UdpServer::reply(std::span<const uint8_t> bytes, const dnscache::Peer& peer, uint32_t local) {
  if (ring_sends_) {
    if (bytes.size() <= kReplySlot && !tx_free_.empty() && !closing_) {
      const uint32_t i = tx_free_.back();
      tx_free_.pop_back();
      fill(i, bytes, peer, local);
      ++tx_in_flight_;
      loop()->sendmsg(tx_ops_[i], fd_, &tx_vec_[i].msg_hdr);
      return;
    }
  } else if (in_batch_ && bytes.size() <= kReplySlot) {
    if (tx_count_ == batch_) flush();  // more replies than queries (never in practice): bounded
    fill(tx_count_++, bytes, peer, local);
    return;
  }
  send_now(bytes, peer, local);
}

void DnsModule::UdpServer::send_now(std::span<const uint8_t> bytes, const dnscache::Peer& peer, uint32_t local) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))];
  address(mh, peer, local, control);
  // Non-blocking, like any UDP server: a reply that would block is dropped.
  if (::sendmsg(fd_, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    ++m_->glue_.udp_send_errors;
    LOG_DEBUG("dns: udp reply: %s", std::strerror(errno));
  }
}

// Sends the queued replies; sendmmsg stops at the first failing message, which
// is counted and skipped (non-blocking: a reply that would block is dropped).
void DnsModule::UdpServer::flush() {
  size_t done = 0;
  for (int guard = 0; done < tx_count_ && guard < static_cast<int>(batch_) + 1; ++guard) {
    int n = ::sendmmsg(fd_, tx_vec_.data() + done, static_cast<unsigned>(tx_count_ - done),
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    ++m_->glue_.udp_send_errors;
    LOG_DEBUG("dns: udp reply: %s", n < 0 ? std::strerror(errno) : "nothing sent");
    ++done;
  }
  tx_count_ = 0;
}

// ---------------------------------------------------------- UpstreamUdp --

DnsModule::UpstreamUdp::UpstreamUdp(DnsModule* m, uint32_t token, const dnscache::Peer& to, int fd)
    : Part(m), token_(token), to_(to), fd_(fd), recv_(this, 0) {}

DnsModule::UpstreamUdp::~UpstreamUdp() {
  if (fd_ >= 0) loop()->close(fd_);
}

bool DnsModule::UpstreamUdp::start(std::span<const uint8_t> query) {
  // connect(): the kernel picks a random source port, and only the upstream's
  // datagrams reach this socket.
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to_.addr), to_.len) < 0 ||
      ::send(fd_, query.data(), query.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    LOG_DEBUG("dns: upstream udp: %s", std::strerror(errno));
    return false;
  }
  loop()->recv(recv_, fd_, MSG_TRUNC);
  return true;
}

void DnsModule::UpstreamUdp::close() {
  closing_ = true;
  loop()->cancel(recv_);
}

void DnsModule::UpstreamUdp::on_complete(io::Op& op, int res) {
  if (res > 0) {
    io::Buffer* b = op.take_buffer();
    if (!closing_ && static_cast<size_t>(res) <= loop()->pool().size())
      m_->upstream_reply({b->data, static_cast<size_t>(res)}, to_, token_);  // may close this
    loop()->pool().release(b);
    if (closing_) closing_completion();
    return;
  }
  if (closing_) {
    closing_completion();
    return;
  }
  if (res == 0) {  // an empty datagram (not an end: UDP has none) is no reply; keep listening
    m_->upstream_reply({}, to_, token_);  // counted as bogus
    if (!closing_) loop()->recv(recv_, fd_, MSG_TRUNC);
    else closing_completion();
    return;
  }
  if (res == -ECANCELED) return;
  LOG_DEBUG("dns: upstream udp recv: %s", std::strerror(-res));
  if (res == -ECONNREFUSED || !transient(-res)) {
    // ICMP port unreachable (nothing listens there) or a hard error: the
    // attempt has failed, and the next upstream is tried now rather than at
    // the deadline.
    ++m_->glue_.upstream_socket_errors;
    m_->upstream_error(token_);  // may close this
    if (closing_) closing_completion();
    return;
  }
  loop()->recv(recv_, fd_, MSG_TRUNC);
}

}  // namespace portico::modules
