#include "proxy/server/listener.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/l4/tcp_proxy.hpp"

namespace portico::server {

namespace {

constexpr TimeNs kAcceptBackoff = 100 * kNsPerMs;
constexpr int kMaxQueued = 65536;  // above any listen backlog (4096)

// Where an accepted connection goes: captured at accept time, so a reload or a
// removed listener does not change it for a connection still reading its PROXY header.
struct Handoff {
  l4::WorkerEnv* env;
  http::HttpWorker* http;
  l4::Generation* gen;
  const conf::Listener* listener;
  std::shared_ptr<const http::RouteTable> routes;
  const conf::Cluster* cluster;
  l4::ListenerShared* shared;
  l4::ListenerStats* stats;
  std::shared_ptr<const http::ListenerLatest> latest;
  tls::ServerContext* tls;  // the listener's, this generation (null: plain text)

  void start(int fd, const l4::ProxyHeader* hdr) const {
    char ip[INET6_ADDRSTRLEN] = {};
    if (hdr && !hdr->local) {
      if (hdr->src.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&hdr->src)->sin_addr, ip, sizeof ip);
      else
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&hdr->src)->sin6_addr, ip, sizeof ip);
    }
    if (routes) {
      http::start_http_connection(
          {env, http, gen, listener, routes, shared, stats, ip, hdr && !hdr->local ? hdr : nullptr, latest, tls}, fd);
    } else {
      l4::start_tcp_session({env, gen, listener, cluster, shared, stats, hdr && !hdr->local ? hdr : nullptr, tls}, fd);
    }
  }
};

// Reads the PROXY protocol header a trusted peer sends first, exactly (never a
// byte past it), then hands the connection on with the client address it
// names. A malformed or missing header, or none within timeouts.header, closes it.
class ProxyHeaderReader final : public l4::Session, private io::OpHandler, private io::TimerHandler {
 public:
  ProxyHeaderReader(Handoff h, int fd) : h_(std::move(h)), fd_(fd), op_(this, 0), timer_(this, 0) {
    ++h_.gen->refs;
    h_.env->add(this);
  }
  void start() {
    h_.env->loop->timers().arm(timer_, h_.env->loop->now() + h_.listener->timeouts.header.count());
    step();
  }
  void abort() override { reject("aborted"); }

 private:
  void on_complete(io::Op&, int res) override {
    if (closing_) return finish();
    if (res <= 0) return reject(res == 0 ? "closed before the PROXY header ended" : "read error");
    have_ += static_cast<size_t>(res);
    step();
  }
  void on_timer(io::Timer&) override { reject("no PROXY header in time"); }

  void step() {
    for (;;) {
      l4::ProxyParse r = l4::parse_proxy_header(buf_, have_, hdr_);
      if (r.state == l4::ProxyParse::State::kInvalid) return reject(r.error);
      if (r.state == l4::ProxyParse::State::kDone) {
        ok_ = true;
        closing_ = true;
        return finish();
      }
      // A v1 line past its first 15 bytes: peek for the CRLF instead of reading byte by byte.
      if (buf_[0] == 'P' && have_ >= 15 && have_ < l4::kProxyV1Max) {
        char tmp[l4::kProxyV1Max];
        ssize_t n = ::recv(fd_, tmp, l4::kProxyV1Max - have_, MSG_PEEK | MSG_DONTWAIT);
        const void* lf = n > 0 ? std::memchr(tmp, '\n', static_cast<size_t>(n)) : nullptr;
        if (lf) {
          size_t take = static_cast<size_t>(static_cast<const char*>(lf) - tmp) + 1;
          ssize_t got = ::recv(fd_, buf_ + have_, take, MSG_DONTWAIT);
          if (got <= 0) return reject("read error");
          have_ += static_cast<size_t>(got);
          continue;
        }
        if (n > 0 && static_cast<size_t>(n) == l4::kProxyV1Max - have_) return reject("PROXY v1 line too long");
      }
      h_.env->loop->read(op_, fd_, buf_ + have_, r.want);
      return;
    }
  }
  void reject(const char* why) {
    if (closing_) return;
    LOG_DEBUG("listener %s: PROXY protocol: %s; closing", h_.listener->name.c_str(), why);
    h_.stats->proxy_rejected.add();
    closing_ = true;
    h_.env->loop->cancel(op_);
    finish();
  }
  void finish() {
    if (op_.armed()) return;
    h_.env->loop->timers().cancel(timer_);
    if (ok_) h_.start(fd_, &hdr_);
    else h_.env->loop->close(fd_);
    --h_.gen->refs;
    h_.env->remove(this);
    delete this;
  }

  Handoff h_;
  int fd_;
  io::Op op_;
  io::Timer timer_;
  uint8_t buf_[l4::kProxyHeaderMax];
  size_t have_ = 0;
  l4::ProxyHeader hdr_;
  bool closing_ = false;
  bool ok_ = false;
};

bool trusted(const conf::Listener& l, int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return false;
  for (const conf::Cidr& c : l.proxy_protocol_from)
    if (c.contains(reinterpret_cast<const sockaddr*>(&ss))) return true;
  return false;
}

// Stream listener: multishot accept; hands each connection to its protocol.
class StreamListener final : public WorkerListener, private io::OpHandler, private io::TimerHandler {
 public:
  StreamListener(l4::WorkerEnv* env, http::HttpWorker* http, int fd, l4::ListenerShared* shared)
      : env_(env), http_(http), fd_(fd), shared_(shared), accept_(this, 0), backoff_(this, 0) {}
  ~StreamListener() override {
    env_->loop->timers().cancel(backoff_);
    if (fd_ >= 0) env_->loop->close(fd_);
  }

  void configure(l4::Generation* gen, const conf::Listener* l) override {
    gen_ = gen;
    listener_ = l;
    cluster_ = l->cluster ? gen->config->find_cluster(*l->cluster) : nullptr;
    routes_ = l->protocol == conf::Protocol::kHttp ? http::RouteTable::build(*gen->config, *l, env_->stats) : nullptr;
    stats_ = env_->stats ? env_->stats->listener(l->name) : l4::WorkerStats::listener_sink();
    if (routes_) {
      if (!latest_) latest_ = std::make_shared<http::ListenerLatest>();
      latest_->gen = gen;
      latest_->listener = l;
      latest_->routes = routes_;
    }
    tls_ = gen->server_context(*l);
  }
  void start() override { env_->loop->accept(accept_, fd_); }
  void stop() override {
    if (stopping_) return;
    stopping_ = true;
    if (latest_) latest_->gen = nullptr;  // removed: its connections stay where they are
    env_->loop->timers().cancel(backoff_);
    if (!accept_.armed()) return;
    // Connections accepted before the cancel lands are served, on this
    // generation: pin it until the accept's final completion. (After an
    // upgrade's hand-over the socket lives on in the new process: closing
    // them would reset clients the kernel had already connected.)
    ++gen_->refs;
    pinned_ = true;
    env_->loop->cancel(accept_);
  }
  bool stopped() const override { return stopping_ && !accept_.armed(); }
  int fd() const override { return fd_; }

 private:
  void on_complete(io::Op&, int res) override {
    accepted(res);
    if (stopping_ && !accept_.armed()) {  // the stopped accept's final completion
      if (!env_->aborted) take_queued();
      if (pinned_) {
        --gen_->refs;
        pinned_ = false;
      }
    }
  }
  // io_uring waits for connections as an exclusive waiter: a connection whose
  // wake-up went to our accept just before its cancel stays queued with no
  // other waiter woken, and after an upgrade's hand-over the new process,
  // which shares the socket, would not hear of it until the next connection.
  // So take (and serve) whatever is queued now, with plain accept4 calls:
  // our accept is gone, later arrivals wake the new process.
  void take_queued() {
    for (int i = 0; i < kMaxQueued; ++i) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      accepted(fd);
    }
  }
  void accepted(int res) {
    if (res >= 0 && stopping_ && env_->aborted) {  // forced exit: nothing is served any more
      env_->loop->close(res);
      return;
    }
    if (res >= 0) {
      Handoff h{env_, http_, gen_, listener_, routes_, cluster_, shared_, stats_, latest_, tls_};
      // From trusted networks the PROXY header comes first; elsewhere it is not
      // interpreted (an HTTP listener answers it 400 as a malformed request).
      if (!listener_->proxy_protocol_from.empty() && trusted(*listener_, res)) {
        (new ProxyHeaderReader(std::move(h), res))->start();
        return;
      }
      h.start(res, nullptr);
      return;
    }
    if (stopping_ || res == -ECANCELED) return;
    // EMFILE, ENFILE, ENOBUFS, ENOMEM...: back off instead of spinning.
    LOG_WARN("listener %s: accept: %s; retrying in 100ms", listener_->name.c_str(), std::strerror(-res));
    env_->loop->timers().arm(backoff_, env_->loop->now() + kAcceptBackoff);
  }
  void on_timer(io::Timer&) override {
    if (!stopping_ && !accept_.armed()) env_->loop->accept(accept_, fd_);
  }

  l4::WorkerEnv* env_;
  http::HttpWorker* http_;
  int fd_;
  l4::ListenerShared* shared_;
  l4::ListenerStats* stats_ = l4::WorkerStats::listener_sink();
  std::shared_ptr<http::ListenerLatest> latest_;  // shared with its connections
  std::shared_ptr<const http::RouteTable> routes_;
  io::Op accept_;
  io::Timer backoff_;
  l4::Generation* gen_ = nullptr;
  const conf::Listener* listener_ = nullptr;
  const conf::Cluster* cluster_ = nullptr;
  tls::ServerContext* tls_ = nullptr;  // owned by gen_
  bool stopping_ = false;
  bool pinned_ = false;  // stopping with the accept still armed: gen_ pinned
};

class DatagramListener final : public WorkerListener {
 public:
  DatagramListener(l4::WorkerEnv* env, int fd, l4::ListenerShared* shared) : udp_(env, fd, shared) {}
  void configure(l4::Generation* gen, const conf::Listener* l) override {
    udp_.configure(gen, l, gen->config->find_cluster(*l->cluster));
  }
  void start() override { udp_.start(); }
  void stop() override { udp_.stop(); }
  bool stopped() const override { return udp_.stopped(); }
  int fd() const override { return udp_.fd(); }

 private:
  l4::UdpListener udp_;
};

}  // namespace

std::unique_ptr<WorkerListener> WorkerListener::create(l4::WorkerEnv* env, http::HttpWorker* http,
                                                       const conf::Listener& l, int fd,
                                                       l4::ListenerShared* shared) {
  if (l.protocol == conf::Protocol::kUdp) return std::make_unique<DatagramListener>(env, fd, shared);
  return std::make_unique<StreamListener>(env, http, fd, shared);
}

}  // namespace portico::server
