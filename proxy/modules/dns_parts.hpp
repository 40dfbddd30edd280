#pragma once
// Internal to the DNS module: the sockets and connections a DnsModule owns on
// its worker (client UDP socket, TCP acceptor, TCP client connection, upstream
// UDP socket and TCP connection per engine token). Each follows the
// cancel-then-free rule: close() cancels its operations, and the module frees
// it (closing its fd) once busy() is false. Worker thread only.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "proxy/io/loop.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/modules/dns_module.hpp"

namespace portico::modules {

class DnsModule::Part : protected io::OpHandler {
 public:
  explicit Part(DnsModule* m) : m_(m) {}
  virtual ~Part() = default;
  Part(const Part&) = delete;
  Part& operator=(const Part&) = delete;
  // Cancels every operation (idempotent). No callbacks into the module after it.
  virtual void close() = 0;
  virtual bool busy() const = 0;

 protected:
  io::Loop* loop() const { return m_->loop_; }
  // Call at the end of every completion of a closing part.
  void closing_completion() {
    if (!busy()) m_->schedule_reap();
  }
  DnsModule* m_;
  bool closing_ = false;
};

// A client-facing UDP socket: receives up to `batch` datagrams per wake-up
// (Loop::recvmmsg, destination address kept on a wildcard bind); each reply
// leaves from the address its query was sent to. On the epoll loop the replies
// produced while handling a batch go out with one sendmmsg(2), later ones
// (cache misses) at once with sendmsg(2). On the io_uring loop every reply is
// a Loop::sendmsg from one of 2 x batch slots, submitted with the loop's next
// io_uring_enter (no syscall of its own; the slot is busy until it completes);
// with no free slot, or a reply larger than a slot, it goes at once with sendmsg(2).
class DnsModule::UdpServer final : public DnsModule::Part {
 public:
  UdpServer(DnsModule* m, const DnsWorkerConfig::Socket& s, uint32_t id, uint32_t batch);
  ~UdpServer() override;
  void start();
  void close() override;
  bool busy() const override { return recv_.armed() || tx_in_flight_ > 0; }
  int fd() const { return fd_; }
  uint32_t id() const { return id_; }
  // Sends a reply to `peer`; `local` is the slot from the Peer's conn_id (0 = none).
  // While a received batch is being handled the reply is queued for its sendmmsg.
  void reply(std::span<const uint8_t> bytes, const dnscache::Peer& peer, uint32_t local);

 private:
  using Local = io::LocalAddr;
  static constexpr size_t kControl = 128;       // room for one IP(V6)_PKTINFO cmsg
  static constexpr size_t kReplySlot = 4096;    // queued reply bytes; larger ones go at once
  struct Rx {  // one receive slot
    sockaddr_storage peer;
    iovec iov;
    alignas(cmsghdr) uint8_t control[kControl];
  };
  struct Tx {  // one queued reply
    sockaddr_storage peer;
    iovec iov;
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))];
  };
  enum Tag : uint8_t { kRecv, kSend };
  void on_complete(io::Op& op, int res) override;
  void on_sent(io::Op& op, int res);
  void arm();
  void handle(size_t i, size_t len);
  void flush();
  // Copies a reply into tx slot i and points tx_vec_[i] at it.
  void fill(size_t i, std::span<const uint8_t> bytes, const dnscache::Peer& peer, uint32_t local);
  void send_now(std::span<const uint8_t> bytes, const dnscache::Peer& peer, uint32_t local);
  // Fills mh's name and pktinfo control for a reply from local slot `local`.
  void address(msghdr& mh, const dnscache::Peer& peer, uint32_t local, uint8_t* control);
  uint32_t local_slot(msghdr& mh);  // slot of the datagram's destination address (0 = none)

  int fd_;
  uint32_t id_;
  bool wildcard_;
  uint32_t batch_;
  io::Op recv_;
  std::vector<Rx> rx_;
  std::vector<mmsghdr> rx_vec_;
  uint32_t rx_dirty_ = UINT32_MAX;  // slots to reset before the next recvmmsg (all at first)
  std::unique_ptr<uint8_t[]> rx_bytes_;  // batch_ x kMaxDatagram, touched only as filled
  bool in_batch_ = false;
  bool ring_sends_;                      // io_uring loop: replies through Loop::sendmsg
  size_t tx_slots_;                      // batch_ (sendmmsg) or 2 x batch_ (ring)
  std::vector<Tx> tx_;
  std::vector<mmsghdr> tx_vec_;
  std::unique_ptr<uint8_t[]> tx_bytes_;  // tx_slots_ x kReplySlot
  size_t tx_count_ = 0;                  // sendmmsg: replies queued
  std::vector<io::Op> tx_ops_;           // ring: one per slot
  std::vector<uint32_t> tx_free_;        // ring: free slots
  uint32_t tx_in_flight_ = 0;            // ring: sends not completed yet
  std::vector<Local> locals_;
};

// A listening TCP socket: multishot accept, back-off on errors.
class DnsModule::TcpAcceptor final : public DnsModule::Part, private io::TimerHandler {
 public:
  TcpAcceptor(DnsModule* m, const DnsWorkerConfig::Socket& s);
  ~TcpAcceptor() override;
  void start();
  void close() override;
  bool busy() const override { return accept_.armed(); }
  int fd() const { return fd_; }

 private:
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;

  DnsWorkerConfig::Socket where_;
  int fd_;
  io::Op accept_;
  io::Timer backoff_;
};

// One client TCP connection: 2-byte length-prefixed queries (pipelined),
// replies queued in order of completion, bounded output, idle timeout.
class DnsModule::TcpClient final : public DnsModule::Part, private io::TimerHandler {
 public:
  TcpClient(DnsModule* m, int fd, uint64_t conn_id);
  ~TcpClient() override;
  void start();
  void close() override;
  bool busy() const override { return recv_.armed() || send_.armed(); }
  // Queues a reply (the length prefix is added here). `synchronous`: the answer
  // to the query being handled right now, else to one that was in flight.
  // True when queries are buffered that resume() should handle.
  bool reply(std::span<const uint8_t> bytes, bool synchronous);
  // Handles buffered queries (called outside the engine's dispatch).
  void resume() { handle_messages(); }

 private:
  enum Tag : uint8_t { kRecv, kSend };
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  void on_data(const uint8_t* data, size_t len);
  void handle_messages();
  void flush();
  void update_reading();
  void maybe_finish();
  size_t queued() const { return (sending_.size() - sent_) + pending_out_.size(); }

  int fd_;
  uint64_t conn_id_;
  dnscache::Peer peer_;
  io::Op recv_;
  io::Op send_;
  io::Timer idle_;
  std::vector<uint8_t> in_;           // bytes of the message being assembled (< 2 + 65535)
  std::vector<uint8_t> sending_;      // bytes the armed send points into
  size_t sent_ = 0;
  std::vector<uint8_t> pending_out_;  // replies queued while a send is armed
  uint32_t in_flight_ = 0;            // queries forwarded, reply not yet queued
  TimeNs last_activity_ = 0;
  bool eof_ = false;                  // the client half-closed: finish answering, then close
  bool paused_ = false;               // recv cancelled for back-pressure
};

// The upstream socket of one engine token over UDP: a fresh socket (kernel
// picks the source port) connected to the upstream; replies fed to the engine.
class DnsModule::UpstreamUdp final : public DnsModule::Part {
 public:
  UpstreamUdp(DnsModule* m, uint32_t token, const dnscache::Peer& to, int fd);
  ~UpstreamUdp() override;
  // Connects, sends the query and starts receiving; false if a syscall failed.
  bool start(std::span<const uint8_t> query);
  void close() override;
  bool busy() const override { return recv_.armed(); }

 private:
  void on_complete(io::Op& op, int res) override;

  uint32_t token_;
  dnscache::Peer to_;
  int fd_;
  io::Op recv_;
};

// The upstream TCP connection of one engine token (TC retry): connect, send
// the length-prefixed query, read one length-prefixed reply.
class DnsModule::UpstreamTcp final : public DnsModule::Part {
 public:
  UpstreamTcp(DnsModule* m, uint32_t token, const dnscache::Peer& to, int fd);
  ~UpstreamTcp() override;
  void start(std::span<const uint8_t> query);
  void close() override;
  bool busy() const override { return connect_.armed() || send_.armed() || recv_.armed(); }

 private:
  enum Tag : uint8_t { kConnect, kSend, kRecv };
  void on_complete(io::Op& op, int res) override;
  void fail(const char* what, int err);

  uint32_t token_;
  dnscache::Peer to_;
  int fd_;
  io::Op connect_;
  io::Op send_;
  io::Op recv_;
  std::vector<uint8_t> out_;
  size_t sent_ = 0;
  std::vector<uint8_t> in_;
  bool done_ = false;  // one reply delivered (or failed): nothing more to do
};

}  // namespace portico::modules
