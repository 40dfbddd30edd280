#include "proxy/server/listener.hpp"

#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/l4/tcp_proxy.hpp"

namespace portico::server {

namespace {

constexpr TimeNs kAcceptBackoff = 100 * kNsPerMs;

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
    routes_ = l->protocol == conf::Protocol::kHttp ? http::RouteTable::build(*gen->config, *l) : nullptr;
    tls_ = gen->server_context(*l);
  }
  void start() override { env_->loop->accept(accept_, fd_); }
  void stop() override {
    stopping_ = true;
    env_->loop->timers().cancel(backoff_);
    env_->loop->cancel(accept_);
  }
  bool stopped() const override { return stopping_ && !accept_.armed(); }
  int fd() const override { return fd_; }

 private:
  void on_complete(io::Op&, int res) override {
    if (res >= 0) {
      if (stopping_) {  // an accept that completed after its cancel: still an fd to close
        env_->loop->close(res);
        return;
      }
      if (routes_) http::start_http_connection({env_, http_, gen_, listener_, routes_, shared_, tls_}, res);
      else l4::start_tcp_session({env_, gen_, listener_, cluster_, shared_, tls_}, res);
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
  std::shared_ptr<const http::RouteTable> routes_;
  io::Op accept_;
  io::Timer backoff_;
  l4::Generation* gen_ = nullptr;
  const conf::Listener* listener_ = nullptr;
  const conf::Cluster* cluster_ = nullptr;
  tls::ServerContext* tls_ = nullptr;  // owned by gen_
  bool stopping_ = false;
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
