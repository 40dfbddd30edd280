#include "proxy/server/admin.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/http/request_parser.hpp"
#include "proxy/http/status.hpp"
#include "proxy/server/admin_views.hpp"

namespace portico::server {

void AdminShared::set_config(std::shared_ptr<const conf::Config> c, bool ok, std::string error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (c) config_ = std::move(c);
  if (!ok) last_error_ = std::move(error);
}

std::shared_ptr<const conf::Config> AdminShared::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

void AdminShared::set_clusters(ClusterMap m) {
  std::lock_guard<std::mutex> lock(mu_);
  clusters_ = std::move(m);
}

AdminShared::ClusterMap AdminShared::clusters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clusters_;
}

std::string AdminShared::last_reload_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

namespace {

enum Tag : uint8_t { kRecv, kSend };
constexpr TimeNs kReloadPoll = 20 * kNsPerMs;
constexpr TimeNs kAcceptBackoff = 100 * kNsPerMs;

http::Limits admin_parse_limits(size_t request_bytes) {
  http::Limits l;
  l.start_line = 4096;
  l.header_bytes = 16 * 1024;
  l.headers = 64;
  l.body = request_bytes;
  return l;
}

// Constant-time comparison for the bearer token.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

// "Bearer <token>": the scheme is case-insensitive (RFC 9110 11.1), the token
// compared in constant time.
bool bearer_matches(std::string_view auth, std::string_view token) {
  constexpr std::string_view kScheme = "bearer ";
  if (auth.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(auth[i])) != kScheme[i]) return false;
  return same(auth.substr(kScheme.size()), token);
}

}  // namespace

// One admin client connection: reads one request, answers, closes.
class AdminConn final : private io::OpHandler, private io::TimerHandler {
 public:
  AdminConn(AdminServer* s, int fd)
      : server_(s), loop_(s->loop()), fd_(fd), recv_(this, kRecv), send_(this, kSend), timer_(this, 0),
        parser_(admin_parse_limits(s->limits().request_bytes)) {}

  void start() {
    loop_->recv(recv_, fd_);
    loop_->timers().arm(timer_, loop_->now() + server_->limits().request_timeout);
  }
  void abort() { close(); }
  bool armed() const { return recv_.armed() || send_.armed(); }
  bool closing() const { return closing_; }
  // Still waiting for its request: may make room for a newer connection.
  bool evictable() const { return !closing_ && !answered_ && !waiting_reload_; }

 private:
  enum class After { kNothing, kDrain };

  void on_complete(io::Op& op, int res) override {
    if (op.tag() == kRecv) {
      if (res > 0) {
        io::Buffer* b = op.take_buffer();
        if (!closing_ && !answered_) {
          in_.append(reinterpret_cast<const char*>(b->readable()), b->remaining());
          loop_->pool().release(b);
          feed();
        } else {
          loop_->pool().release(b);
        }
      } else if (!closing_ && !answered_) {
        close();  // EOF or error before a whole request: nobody to answer
      }
    } else {
      if (res < 0) {
        close();
      } else {
        sent_ += static_cast<size_t>(res);
        if (sent_ < out_.size()) {
          loop_->send(send_, fd_, out_.data() + sent_, out_.size() - sent_);
        } else {
          if (after_ == After::kDrain) ::kill(::getpid(), SIGTERM);
          close();
        }
      }
    }
    maybe_finish();
  }

  void on_timer(io::Timer&) override {
    if (closing_) return;
    if (waiting_reload_) {
      AdminShared& sh = server_->shared();
      if (sh.reloads_done.load(std::memory_order_acquire) > reload_before_) {
        waiting_reload_ = false;
        if (sh.reloads_failed.load(std::memory_order_acquire) > failed_before_)
          respond(500, "text/plain; charset=utf-8", "reload failed: " + sh.last_reload_error() + "\n");
        else
          respond(200, "text/plain; charset=utf-8", "reload ok\n");
      } else if (loop_->now() >= reload_deadline_) {
        waiting_reload_ = false;
        respond(504, "text/plain; charset=utf-8", "reload still running\n");
      } else {
        loop_->timers().arm(timer_, loop_->now() + kReloadPoll);
      }
      maybe_finish();
      return;
    }
    close();  // request not complete in time
    maybe_finish();
  }

  void feed() {
    while (!answered_ && !closing_) {
      http::ParseResult r = parser_.parse(in_);
      in_.erase(0, r.consumed);
      switch (r.event) {
        case http::ParseEvent::kNeedMore:
          if (in_.size() > server_->limits().request_bytes) return fail(413);
          return;
        case http::ParseEvent::kHead: {
          const http::RequestHead& h = parser_.head();
          method_.assign(h.method);
          path_.assign(h.path);
          auth_.assign(h.header("Authorization").value_or(""));
          break;
        }
        case http::ParseEvent::kBody: break;  // no admin route takes a body
        case http::ParseEvent::kMessageComplete: return handle();
        case http::ParseEvent::kUpgrade: return fail(400);
        case http::ParseEvent::kError: return fail(r.error.status ? r.error.status : 400);
      }
    }
  }

  void fail(int status) {
    respond(status, "text/plain; charset=utf-8", std::to_string(status) + " " +
                                                     std::string(http::reason_phrase(status)) + "\n");
  }

  void handle() {
    AdminShared& sh = server_->shared();
    auto cfg = sh.config();
    const bool head = method_ == "HEAD";
    head_only_ = head;  // no body on any answer to HEAD, errors included
    const bool get = method_ == "GET" || head;
    const bool post = method_ == "POST";
    struct RouteDef {
      const char* path;
      bool post;
    };
    static constexpr RouteDef kRoutes[] = {{"/healthz", false}, {"/ready", false},  {"/metrics", false},
                                           {"/clusters", false}, {"/config", false}, {"/reload", true},
                                           {"/drain", true}};
    const RouteDef* route = nullptr;
    for (const auto& r : kRoutes)
      if (path_ == r.path) route = &r;
    if (!route) return fail(404);
    if (route->post ? !post : !get) {
      extra_ = route->post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n";
      return fail(405);
    }
    // Probes stay open; everything else needs the token when one is set.
    const bool probe = path_ == "/healthz" || path_ == "/ready";
    if (!probe && cfg && cfg->admin.token && !bearer_matches(auth_, *cfg->admin.token)) {
      extra_ = "WWW-Authenticate: Bearer realm=\"portico\"\r\n";
      return fail(401);
    }
    const std::string_view json = "application/json";
    if (path_ == "/healthz") return respond(200, "text/plain; charset=utf-8", "ok\n");
    if (path_ == "/ready") {
      if (sh.draining.load(std::memory_order_acquire))
        return respond(503, "text/plain; charset=utf-8", "draining\n");
      return respond(200, "text/plain; charset=utf-8", "ready\n");
    }
    if (path_ == "/metrics") return respond(200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(sh));
    if (path_ == "/clusters") return respond(200, json, render_clusters(sh));
    if (path_ == "/config") return respond(200, json, cfg ? render_config(*cfg) : "{}\n");
    if (path_ == "/drain") {
      after_ = After::kDrain;
      return respond(202, "text/plain; charset=utf-8", "draining\n");
    }
    // POST /reload: ask the main thread (SIGHUP) and wait for its result.
    reload_before_ = sh.reloads_done.load(std::memory_order_acquire);
    failed_before_ = sh.reloads_failed.load(std::memory_order_acquire);
    answered_ = true;
    loop_->cancel(recv_);
    waiting_reload_ = true;
    reload_deadline_ = loop_->now() + server_->limits().reload_wait;
    ::kill(::getpid(), SIGHUP);
    loop_->timers().arm(timer_, loop_->now() + kReloadPoll);
  }

  void respond(int status, std::string_view ctype, std::string body) {
    answered_ = true;
    loop_->cancel(recv_);
    loop_->timers().cancel(timer_);
    const std::string_view reason = http::reason_phrase(status);
    out_ = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
           "\r\nServer: portico\r\nContent-Type: " + std::string(ctype) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nCache-Control: no-store\r\n" + extra_ +
           "Connection: close\r\n\r\n";
    if (!head_only_) out_ += body;
    sent_ = 0;
    loop_->send(send_, fd_, out_.data(), out_.size());
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    waiting_reload_ = false;
    loop_->timers().cancel(timer_);
    loop_->cancel(recv_);
    loop_->cancel(send_);
  }

  // Last statement of every entry point: may free this.
  void maybe_finish() {
    if (!closing_ || armed() || finished_) return;
    finished_ = true;
    loop_->close(fd_);
    server_->finished(this);
  }

  AdminServer* server_;
  io::Loop* loop_;
  int fd_;
  io::Op recv_;
  io::Op send_;
  io::Timer timer_;
  http::RequestParser parser_;
  std::string in_;
  std::string out_;
  size_t sent_ = 0;
  std::string method_, path_, auth_;
  std::string extra_;  // extra response header lines
  bool head_only_ = false;
  bool answered_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool waiting_reload_ = false;
  uint64_t reload_before_ = 0;
  uint64_t failed_before_ = 0;
  TimeNs reload_deadline_ = 0;
  After after_ = After::kNothing;

  friend class AdminServer;
};

AdminServer::AdminServer(io::Loop* loop, int fd, std::shared_ptr<AdminShared> shared, AdminLimits limits)
    : loop_(loop), fd_(fd), shared_(std::move(shared)), limits_(limits), accept_(this, 0), backoff_(this, 0) {}

AdminServer::~AdminServer() {
  loop_->timers().cancel(backoff_);
  if (fd_ >= 0) loop_->close(fd_);
}

void AdminServer::start() { loop_->accept(accept_, fd_); }

void AdminServer::stop() {
  if (stopping_) return;
  stopping_ = true;
  loop_->timers().cancel(backoff_);
  loop_->cancel(accept_);
  // abort() may finish (and free) a connection at once: iterate over a copy.
  std::vector<AdminConn*> live;
  for (auto& c : conns_) live.push_back(c.get());
  for (AdminConn* c : live) {
    c->abort();
    c->maybe_finish();
  }
}

void AdminServer::stop_accepting() {
  accepting_ = false;
  loop_->timers().cancel(backoff_);
  loop_->cancel(accept_);
}

bool AdminServer::idle() const { return !accept_.armed() && conns_.empty(); }

void AdminServer::finished(AdminConn* c) {
  auto it = std::find_if(conns_.begin(), conns_.end(), [c](const auto& p) { return p.get() == c; });
  if (it != conns_.end()) conns_.erase(it);  // frees c: its caller touches nothing after this
}

void AdminServer::on_complete(io::Op&, int res) {
  accepted(res);
  // Handed over (upgrade): the cancelled accept's last completion. As for
  // listeners (listener.cpp take_queued), serve what is queued now: a wake-up
  // our exclusive io_uring waiter took just before the cancel reaches nobody else.
  if (!accepting_ && !stopping_ && !accept_.armed()) {
    for (int i = 0; i < 1024; ++i) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      accepted(fd);
    }
  }
}

void AdminServer::accepted(int res) {
  if (res >= 0) {
    auto open = [this] {
      return static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return !c->closing(); }));
    };
    if (!stopping_ && open() >= limits_.connections) {
      // Full: the oldest connection that has not sent its request yet makes
      // room (nginx reuses idle connections the same way), so connections
      // that send nothing cannot lock out a liveness probe.
      auto it = std::find_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->evictable(); });
      if (it != conns_.end()) {
        AdminConn* c = it->get();
        ++evicted_;
        c->abort();
        c->maybe_finish();  // may free it
      }
    }
    if (stopping_ || open() >= limits_.connections) {
      ++refused_;
      loop_->close(res);
    } else {
      conns_.push_back(std::make_unique<AdminConn>(this, res));
      conns_.back()->start();
    }
    // At most one warning a second, whatever the rate.
    if ((evicted_ || refused_) && !stopping_ && loop_->now() >= next_warn_) {
      LOG_WARN("admin: %u connections open: %llu waiting ones closed to make room, %llu new ones refused",
               limits_.connections, static_cast<unsigned long long>(evicted_), static_cast<unsigned long long>(refused_));
      evicted_ = refused_ = 0;
      next_warn_ = loop_->now() + kNsPerSec;
    }
    return;
    conns_.push_back(std::make_unique<AdminConn>(this, res));
    conns_.back()->start();
    return;
  }
  if (stopping_ || !accepting_ || res == -ECANCELED) return;
  LOG_WARN("admin: accept: %s; retrying in 100ms", std::strerror(-res));
  loop_->timers().arm(backoff_, loop_->now() + kAcceptBackoff);
}

void AdminServer::on_timer(io::Timer&) {
  if (!stopping_ && accepting_ && !accept_.armed()) loop_->accept(accept_, fd_);
}

}  // namespace portico::server
