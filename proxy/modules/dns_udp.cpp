// DNS over UDP: the client-facing socket (recvmsg/sendmsg, destination address
// kept on wildcard binds) and the per-token upstream socket.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/modules/dns_parts.hpp"

namespace portico::modules {

namespace {

constexpr size_t kMaxDatagram = 65536;

bool is_wildcard(const conf::Address& a) {
  if (a.family() == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (a.family() == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr);
  return false;
}

// Errors after which receiving again makes sense (anything else stops the socket).
bool transient(int err) {
  return err == EINTR || err == EAGAIN || err == ENOMEM || err == ENOBUFS || err == ECONNREFUSED ||
         err == EHOSTUNREACH || err == ENETUNREACH || err == EMSGSIZE;
}

}  // namespace

// ------------------------------------------------------------ UdpServer --

DnsModule::UdpServer::UdpServer(DnsModule* m, const DnsWorkerConfig::Socket& s, uint32_t id)
    : Part(m), fd_(s.udp_fd), id_(id), wildcard_(is_wildcard(s.address)), recv_(this, 0),
      buf_(kMaxDatagram) {
  if (wildcard_) {
    // Replies must leave from the address the query was sent to.
    int one = 1;
    if (s.address.family() == AF_INET) ::setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    else ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  }
}

DnsModule::UdpServer::~UdpServer() {
  if (fd_ >= 0) loop()->close(fd_);
}

void DnsModule::UdpServer::start() {
  if (!recv_.armed() && !closing_) arm();
}

void DnsModule::UdpServer::arm() {
  iov_ = {buf_.data(), buf_.size()};
  msg_ = {};
  msg_.msg_name = &peer_;
  msg_.msg_namelen = sizeof peer_;
  msg_.msg_iov = &iov_;
  msg_.msg_iovlen = 1;
  if (wildcard_) {
    msg_.msg_control = control_;
    msg_.msg_controllen = sizeof control_;
  }
  loop()->recvmsg(recv_, fd_, &msg_);
}

void DnsModule::UdpServer::close() {
  closing_ = true;
  loop()->cancel(recv_);
}

void DnsModule::UdpServer::on_complete(io::Op&, int res) {
  if (closing_) {
    closing_completion();
    return;
  }
  if (res >= 0) {
    ++m_->glue_.udp_queries;
    if (msg_.msg_flags & MSG_TRUNC) {
      ++m_->glue_.udp_oversized;
    } else {
      dnscache::Peer p;
      std::memcpy(&p.addr, &peer_, std::min<size_t>(msg_.msg_namelen, sizeof p.addr));
      p.len = msg_.msg_namelen;
      p.transport = dnscache::Transport::kUdp;
      // The engine echoes conn_id: which socket, and which local address to answer from.
      p.conn_id = (uint64_t{id_} << 32) | local_slot();
      m_->client_query({buf_.data(), static_cast<size_t>(res)}, p);
    }
  } else if (res != -ECANCELED && !transient(-res)) {
    LOG_WARN("dns: udp recvmsg: %s; this socket stops serving", std::strerror(-res));
    return;
  }
  if (!closing_) arm();
}

uint32_t DnsModule::UdpServer::local_slot() {
  if (!wildcard_) return 0;
  Local l;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg_); c; c = CMSG_NXTHDR(&msg_, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      l.family = AF_INET;
      l.addr4 = pi.ipi_addr;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      l.family = AF_INET6;
      l.addr6 = pi.ipi6_addr;
      l.ifindex = static_cast<int>(pi.ipi6_ifindex);
    }
  }
  if (l.family == 0) return 0;
  for (size_t i = 0; i < locals_.size(); ++i) {
    const Local& o = locals_[i];
    if (o.family == l.family && o.ifindex == l.ifindex &&
        (l.family == AF_INET ? o.addr4.s_addr == l.addr4.s_addr
                             : std::memcmp(&o.addr6, &l.addr6, sizeof l.addr6) == 0))
      return static_cast<uint32_t>(i + 1);
  }
  if (locals_.size() >= m_->limits_.udp_locals) return 0;  // the kernel picks the source
  locals_.push_back(l);
  return static_cast<uint32_t>(locals_.size());
}

void DnsModule::UdpServer::reply(std::span<const uint8_t> bytes, const dnscache::Peer& peer, uint32_t local) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr mh{};
  mh.msg_name = const_cast<sockaddr_storage*>(&peer.addr);
  mh.msg_namelen = peer.len;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  if (local > 0 && local <= locals_.size()) {
    const Local& l = locals_[local - 1];
    mh.msg_control = control;
    cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
    if (l.family == AF_INET) {
      in_pktinfo pi{};
      pi.ipi_spec_dst = l.addr4;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
      mh.msg_controllen = CMSG_SPACE(sizeof pi);
    } else {
      in6_pktinfo pi{};
      pi.ipi6_addr = l.addr6;
      pi.ipi6_ifindex = static_cast<unsigned>(l.ifindex);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
      mh.msg_controllen = CMSG_SPACE(sizeof pi);
    }
  }
  // Non-blocking, like any UDP server: a reply that would block is dropped.
  if (::sendmsg(fd_, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    ++m_->glue_.udp_send_errors;
    LOG_DEBUG("dns: udp reply: %s", std::strerror(errno));
  }
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
  // ICMP port unreachable and the like: the engine times the attempt out.
  if (res != 0 && res != -ECANCELED) LOG_DEBUG("dns: upstream udp recv: %s", std::strerror(-res));
  if (res < 0 && transient(-res) && res != -ECONNREFUSED) loop()->recv(recv_, fd_, MSG_TRUNC);
}

}  // namespace portico::modules
