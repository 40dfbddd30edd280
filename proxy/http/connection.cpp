#include "proxy/http/connection.hpp"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <random>

#include "proxy/base/log.hpp"
#include "proxy/http/request_parser.hpp"
#include "proxy/http/response_parser.hpp"
#include "proxy/http/status.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/l4/tls_pipe.hpp"
#include "proxy/upstream/hash.hpp"

namespace portico::http {

// ---------------------------------------------------------------- RouteTable

std::shared_ptr<const RouteTable> RouteTable::build(const conf::Config& c, const conf::Listener& l,
                                                    l4::WorkerStats* stats) {
  auto t = std::make_shared<RouteTable>();
  std::string err;
  auto router = Router::compile(l.routes, &err);
  if (!router) {
    // The loader compiled the same regexes already; this cannot fail in practice.
    LOG_ERROR("listener %s: routes: %s", l.name.c_str(), err.c_str());
    router = Router::compile({}, &err);
  }
  t->router = std::move(*router);
  if (stats) t->unmatched = stats->route(l.name, "_unmatched");
  for (const conf::Route& r : l.routes) {
    Entry e;
    e.route = &r;
    if (stats) e.stats = stats->route(l.name, r.name ? *r.name : std::to_string(t->entries.size()));
    if (r.cluster) e.cluster = c.find_cluster(*r.cluster);
    e.retry = upstream::RetryPolicy::from_conf(r.retries);
    if (r.static_files) {
      e.root = StaticRoot::open(r.static_files->root, &err);
      if (!e.root) LOG_WARN("listener %s: static root %s: %s", l.name.c_str(), r.static_files->root.c_str(), err.c_str());
    }
    t->entries.push_back(std::move(e));
  }
  return t;
}

// ---------------------------------------------------------------- HttpWorker

namespace {
uint64_t splitmix(void* state) {
  uint64_t& s = *static_cast<uint64_t*>(state);
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

HttpWorker::HttpWorker(io::Loop* loop, const conf::AccessLog& log)
    : upstreams(loop), access_log(loop, log), headers(256, 16 * 1024),
      scratch(new char[64 * 1024]), rng_state(std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32)) {}

RandomSource HttpWorker::rng() { return RandomSource{&splitmix, &rng_state}; }

void HttpWorker::fit_heads(const Limits& l) {
  // What portico adds to a head: forwarding fields, Via, X-Request-Id, framing,
  // the client-certificate subject, and a route's header transforms.
  constexpr uint32_t kAddedFields = 64;
  constexpr size_t kAddedBytes = 16 * 1024;
  uint32_t fields = std::min<uint32_t>(l.headers + kAddedFields, HeaderSet::kMaxFields);
  // Merged lists (X-Forwarded-For, Via) can be as long as the section itself.
  size_t store = l.header_bytes + kAddedBytes;
  if (fields > headers.capacity() || store > headers.store_capacity())
    headers = HeaderSet(std::max(fields, headers.capacity()), std::max(store, headers.store_capacity()));
  size_t head = l.start_line + 2 * l.header_bytes + kAddedBytes;
  if (head > scratch_size) {
    scratch.reset(new char[head]);
    scratch_size = head;
  }
}

namespace {
template <class P>
std::unique_ptr<P> take_parser(std::vector<std::unique_ptr<P>>& free, const Limits& l) {
  if (!free.empty() && free.back()->limits() == l) {
    std::unique_ptr<P> p = std::move(free.back());
    free.pop_back();
    return p;
  }
  return std::make_unique<P>(l);
}

template <class P>
void give_parser(std::vector<std::unique_ptr<P>>& free, std::unique_ptr<P> p, size_t max) {
  if (!p || free.size() >= max) return;  // dropped: freed here
  p->reset();
  free.push_back(std::move(p));
}
}  // namespace

void* HttpWorker::take_exchange_storage(size_t size) {
  if (free_exchanges_.empty()) return ::operator new(size);
  void* p = free_exchanges_.back().release();
  free_exchanges_.pop_back();
  return p;
}

// Every block has the one size of the one exchange type.
void HttpWorker::give_exchange_storage(void* p, size_t) {
  if (free_exchanges_.size() >= kFreeExchanges) {
    ::operator delete(p);
    return;
  }
  free_exchanges_.emplace_back(p);
}

std::unique_ptr<RequestParser> HttpWorker::take_request_parser(const Limits& l) {
  return take_parser(free_request_parsers_, l);
}
std::unique_ptr<ResponseParser> HttpWorker::take_response_parser(const Limits& l) {
  return take_parser(free_response_parsers_, l);
}
void HttpWorker::give(std::unique_ptr<RequestParser> p) {
  give_parser(free_request_parsers_, std::move(p), kFreeParsers);
}
void HttpWorker::give(std::unique_ptr<ResponseParser> p) {
  give_parser(free_response_parsers_, std::move(p), kFreeParsers);
}

// ---------------------------------------------------------------- connection

namespace {

enum Tag : uint8_t { kRecv, kSend, kPollOut };
constexpr size_t kMaxIov = 8;
constexpr size_t kBatchBytes = 256 * 1024;  // see out_limit()
constexpr uint64_t kMaxLingerBytes = 1 << 20;  // discarded after an error response, then close
// While the worker drains, a keep-alive connection idle this long is closed
// (sooner would race a client already sending its next request; a busy one
// gets Connection: close on its next response instead).
constexpr TimeNs kDrainIdle = kNsPerSec;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

std::string client_ip_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], buf, sizeof buf);
    else inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
  } else {
    return "unix";
  }
  return buf;
}

class HttpConnection;

// The part of a client connection that lives as long as its socket: identity,
// the multishot recv and the deadline timer. While a request is in progress,
// or its response still going out, an HttpConnection does the work and gets
// this part's events; an idle keep-alive connection is this object alone
// (a few hundred bytes: no parser, no buffers, no strings of the last
// exchange). One worker.
class HttpClient final : public l4::Session, private io::OpHandler, private io::TimerHandler {
 public:
  HttpClient(const HttpListenerContext& ctx, int fd);
  bool start(tls::ServerContext* tls);  // false: the connection cannot start (abort it)
  void abort() override;
  void drain() override;

 private:
  friend class HttpConnection;
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  void close_idle();
  void maybe_destroy_idle();
  TimeNs idle_deadline() const;
  void finish();  // closes the socket and frees this; nothing may be armed

  l4::WorkerEnv* env_;
  HttpWorker* http_;
  l4::Generation* gen_;
  const conf::Listener* listener_;
  std::shared_ptr<const RouteTable> routes_;
  std::shared_ptr<const ListenerLatest> latest_;
  l4::ListenerShared* shared_;
  l4::ListenerStats* stats_;
  std::unique_ptr<l4::ProxyHeader> proxied_;  // a trusted inbound PROXY header, if any
  HttpConnection* active_ = nullptr;
  io::Op recv_;
  io::Timer timer_;
  io::BufferQueue in_;  // from the client, not parsed yet (empty while idle)
  TimeNs last_activity_ = 0;
  int fd_;
  bool client_eof_ = false;
  bool client_paused_ = false;
  bool idle_closing_ = false;
  bool reset_ = false;
  std::string client_ip_;
  std::unique_ptr<l4::TlsPipe> tls_;  // null on plain-text listeners
  TimeNs accepted_ = 0;
};

// One client connection while it has an exchange in progress (see
// HttpClient): parses requests (keep-alive, pipelining), routes them and runs
// their actions. Created on the first byte of a request, freed once the
// exchange is over and nothing is pending. One worker.
class HttpConnection final : private io::OpHandler,
                             private io::TimerHandler,
                             private UpstreamUser,
                             private io::Deferred {
 public:
  explicit HttpConnection(HttpClient& c);
  ~HttpConnection();
  // Made with placement new in HttpWorker storage: this ends it and returns the storage.
  void destroy() {
    HttpWorker* w = http_;
    this->~HttpConnection();
    w->give_exchange_storage(this, sizeof(HttpConnection));
  }
  void abort() {
    close_now(false);
    maybe_destroy();
  }
  // The posted flush (see post_flush).
  void run_deferred() override {
    flush_client();
    maybe_destroy();
  }

 private:
  friend class HttpClient;
  enum class Req : uint8_t { kIdle, kHead, kBody, kComplete };
  enum class Resp : uint8_t { kNone, kWaiting, kBody, kFile, kDone };
  enum class Action : uint8_t { kNone, kLocal, kStatic, kProxy };

  // io callbacks
  void on_complete(io::Op& op, int res) override;
  void on_timer(io::Timer& t) override;
  // upstream callbacks
  void on_upstream_connected(UpstreamConn& c, int res) override;
  void on_upstream_data(UpstreamConn& c, io::Buffer* b) override;
  void on_upstream_closed(UpstreamConn& c, int res) override;
  void on_upstream_drained(UpstreamConn& c, int res) override;

  // downstream
  void pump_client();
  void pump_input();
  void on_head();
  void on_body(std::string_view data);
  void on_request_complete();
  void on_client_eof();
  // actions
  void local_response(int status, std::string_view body, std::string_view location = {},
                      std::string_view content_type = "text/plain; charset=utf-8");
  void serve_static(const RouteTable::Entry& e);
  void start_proxy(const RouteTable::Entry& e);
  bool send_upstream_head();
  // upstream response
  void pump_upstream();
  void on_response_head();
  void forward_interim(const ResponseHead& h);
  void on_response_complete();
  // ---- clusters (load balancing, retries, circuit breakers) ----
  void upstream_failed(int status, const char* why);
  bool attempt_failed(upstream::FailureKind kind, int status, int http_status, const char* why);
  bool can_replay() const;
  bool start_attempt();
  uint64_t hash_key() const;
  void end_proxy_accounting();
  TimeNs attempt_deadline(TimeNs d) const;  // d, or the per-try deadline if sooner
  void release_upstream(bool reusable);
  UpstreamConn* acquire_upstream(const conf::Address& a);
  // output
  void out(std::string_view s) {
    io::append(env_->loop->pool(), out_, s.data(), s.size());
    bytes_out_ += s.size();
  }
  void out_chunk(std::string_view data);
  void flush_client();
  void send_file_part();
  // lifecycle
  void error_response(int status, const char* why);
  void exchange_done();
  void start_tunnel();
  void arm_deadline();
  TimeNs idle_limit() const;
  void close_now(bool reset);
  void start_lingering();
  void maybe_destroy();
  void log_access();
  // Between requests: move to the listener's newest generation and routes (after a reload).
  void adopt_latest() {
    if (!latest_ || !latest_->gen || latest_->routes == routes_) return;
    --gen_->refs;
    gen_ = latest_->gen;
    ++gen_->refs;
    listener_ = latest_->listener;
    routes_ = latest_->routes;
  }
  void pause_client() {
    if (!client_paused_ && recv_.armed()) {
      client_paused_ = true;
      env_->loop->cancel(recv_);
    }
  }
  void resume_client() {
    if (client_paused_ && !recv_.armed() && !client_eof_ && !closing_) {
      client_paused_ = false;
      env_->loop->recv(recv_, fd_);
    }
  }
  size_t high_water() const { return listener_->limits.buffer; }
  // What a streamed response body may queue before the upstream is paused:
  // while the client takes every send whole, a batch of reads (the L4
  // relay's rule: one send per batch, a quarter as many sends and wake-ups
  // of the client on loopback); after a short send, limits.buffer.
  size_t out_limit() const { return keeps_up_ && !tls_ ? std::max(high_water(), kBatchBytes) : high_water(); }
  // Body bytes of this turn's reads go out in one send once the turn's
  // completions are dispatched (plain text; TLS encrypts as it flushes).
  void post_flush() {
    if (tls_) flush_client();
    else if (!closing_ && !send_.armed() && !poll_.armed()) env_->loop->post(*this);
  }

  // ---- the TLS seam (listener with tls). Everything else sees plaintext:
  // deliver() turns received bytes into in_, flush_client() turns out_ into
  // the bytes sent (wire_), send_file_part() reads+encrypts instead of sendfile.
  void deliver(io::Buffer* b);
  bool deliver_eof();  // false: the connection was closed
  void tls_failed(const char* where);
  void on_handshake_done();
  void send_file_tls();
  io::BufferQueue& wire() { return tls_ ? wire_ : out_; }
  bool output_empty() const { return out_.empty() && wire_.empty(); }

  // The connection's lasting part and views of its state.
  HttpClient& client_;
  l4::WorkerEnv* env_;
  HttpWorker* http_;
  // gen_, listener_ and routes_ are the client's: adopt_latest() moves the
  // connection, not just this exchange, to a newer generation.
  l4::Generation*& gen_;
  const conf::Listener*& listener_;
  std::shared_ptr<const RouteTable>& routes_;
  const std::shared_ptr<const ListenerLatest>& latest_;
  l4::ListenerShared* shared_;
  l4::ListenerStats* stats_;
  const std::unique_ptr<l4::ProxyHeader>& proxied_;
  bool counted_ = false;  // this exchange is in the route metrics already
  l4::EndpointStats* ep_stats_ = nullptr;  // set while an upstream connection is held
  const int fd_;
  const std::string& client_ip_;
  io::Op& recv_;
  io::Timer& timer_;
  io::BufferQueue& in_;
  TimeNs& last_activity_;
  bool& client_eof_;
  bool& client_paused_;

  io::Op send_;
  io::Op poll_;
  io::BufferQueue out_;  // to the client
  iovec send_iov_[kMaxIov];
  msghdr send_msg_{};
  std::unique_ptr<RequestParser> parser_;

  // the exchange in progress
  Req req_ = Req::kIdle;
  Resp resp_ = Resp::kNone;
  Action action_ = Action::kNone;
  const RouteTable::Entry* entry_ = nullptr;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool request_has_body_ = false;
  bool request_read_ = false;     // the parser saw the end of the current request
  bool chunked_up_ = false;    // request body re-chunked to the upstream
  bool chunked_down_ = false;  // response body chunked to the client
  bool close_delimited_ = false;  // response body ends when we close
  bool upgrade_requested_ = false;
  bool tunnel_ = false;
  bool head_sent_ = false;     // a response head went out for this exchange
  bool request_sent_ = false;  // every request byte was written upstream
  bool got_response_bytes_ = false;
  int status_ = 0;
  std::string method_, path_, host_, request_id_, user_agent_;
  std::string upstream_head_;  // kept for one safe retry on a stale pooled connection
  int retries_left_ = 0;
  TimeNs start_ = 0;
  TimeNs up_start_ = 0;
  TimeNs head_start_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;

  // upstream
  UpstreamConn* up_ = nullptr;
  upstream::WorkerCluster* wc_ = nullptr;       // of the exchange in progress
  upstream::Lease lease_;                       // the endpoint of the attempt in progress
  upstream::Outcome up_outcome_ = upstream::Outcome::kSuccess;
  std::optional<upstream::RetryState> retry_;   // per proxied request
  upstream::RetryBudget* budget_ = nullptr;     // counted in while the request runs
  bool restarted_ = false;                      // pump_upstream: a retry replaced up_
  uint64_t hash_ = 0;                           // ring_hash / maglev key of the request
  conf::Address up_addr_;                       // of the attempt in progress (logs)
  std::string up_address_;  // formatted only for the access log
  io::BufferQueue up_in_;
  std::unique_ptr<ResponseParser> resp_parser_;
  bool up_eof_ = false;
  TimeNs up_deadline_ns_ = 0;

  // static file
  StaticFile file_;
  off_t file_off_ = 0;
  uint64_t file_left_ = 0;

  bool close_after_flush_ = false;
  bool keeps_up_ = true;  // the client took the last send whole
  size_t sending_ = 0;    // bytes the send in flight offers
  bool lingering_ = false;  // response sent and FIN too: discarding input until EOF
  uint64_t linger_bytes_ = 0;
  bool closing_ = false;
  bool reset_ = false;
  bool shut_sent_ = false;

  // Nothing in progress or pending: the HttpClient can go on alone.
  bool quiescent() const {
    return req_ == Req::kIdle && resp_ == Resp::kNone && !tunnel_ && !up_ && in_.empty() && out_.empty() &&
           up_in_.empty() && !send_.armed() && !poll_.armed() && !close_after_flush_ && !client_eof_ &&
           !parser_->in_message() && wire_.empty() && (!tls_ || tls_->handshake_done()) && !posted();
  }

  // TLS (null on plain-text listeners): the pipe lives with the client.
  std::unique_ptr<l4::TlsPipe>& tls_;
  TimeNs& accepted_;
  io::BufferQueue wire_;  // ciphertext to the client
  bool tls_close_sent_ = false;
  // pump_client() runs the parser's handlers, which may produce a whole
  // response and then learn that it ends the connection (the end of the
  // request comes after the route answered its head). Their flushes wait for
  // the outermost pump to return, so one send carries what the input made.
  int pump_depth_ = 0;
  bool flush_deferred_ = false;
  bool repump_ = false;  // pump_client() was asked for while it ran
  bool eof_deferred_ = false;  // the client's EOF waits for the pipelined input before it
};

// ------------------------------------------------------------ HttpClient

HttpClient::HttpClient(const HttpListenerContext& ctx, int fd)
    : env_(ctx.env),
      http_(ctx.http),
      gen_(ctx.gen),
      listener_(ctx.listener),
      routes_(ctx.routes),
      latest_(ctx.latest),
      shared_(ctx.shared),
      stats_(ctx.stats),
      recv_(this, kRecv),
      timer_(this, 0),
      fd_(fd),
      client_ip_(ctx.client_ip.empty() ? client_ip_of(fd) : std::string(ctx.client_ip)) {
  ++gen_->refs;
  env_->add(this);
  stats_->accepted.add(), stats_->active.add();
  if (ctx.proxied) proxied_ = std::make_unique<l4::ProxyHeader>(*ctx.proxied);
}

bool HttpClient::start(tls::ServerContext* tls) {
  last_activity_ = accepted_ = env_->loop->now();
  if (tls) {
    tls_ = std::make_unique<l4::TlsPipe>(&stats_->tls);
    if (!tls->accept(tls_->conn())) {
      LOG_WARN("http %s: cannot start a TLS connection", listener_->name.c_str());
      return false;
    }
  }
  env_->loop->recv(recv_, fd_);
  env_->loop->timers().arm(timer_, idle_deadline());
  return true;
}

// Between exchanges: the TLS handshake's deadline until it is done, then
// the keep-alive one.
TimeNs HttpClient::idle_deadline() const {
  if (tls_ && !tls_->handshake_done()) return accepted_ + listener_->timeouts.handshake.count();
  const TimeNs d = last_activity_ + listener_->timeouts.idle.count();
  return env_->draining ? std::min(d, last_activity_ + kDrainIdle) : d;
}

// An exchange in progress answers with Connection: close (env_->draining);
// an idle connection gets the shorter deadline.
void HttpClient::drain() {
  if (!active_ && !idle_closing_) env_->loop->timers().arm(timer_, idle_deadline());
}

void HttpClient::abort() {
  if (active_) {
    active_->abort();  // may free this
    return;
  }
  close_idle();
  maybe_destroy_idle();
}

// Only recv_ is bound here. An exchange in progress gets the completion
// (and may free this); an idle connection starts one on the first byte.
void HttpClient::on_complete(io::Op& op, int res) {
  if (active_) {
    active_->on_complete(op, res);
    return;
  }
  if (idle_closing_) {
    if (res > 0) env_->loop->pool().release(op.take_buffer());
    maybe_destroy_idle();
    return;
  }
  if (res > 0) {
    active_ = new (http_->take_exchange_storage(sizeof(HttpConnection))) HttpConnection(*this);
    active_->on_complete(op, res);
    return;
  }
  if (res == -ECANCELED && client_paused_) {  // a pause's cancel landing after the exchange ended
    client_paused_ = false;
    env_->loop->recv(recv_, fd_);
    return;
  }
  // FIN, reset or error between requests: nothing is owed, close quietly.
  if (res < 0 && res != -ECONNRESET && res != -ECANCELED)
    LOG_DEBUG("http %s: recv: %s", listener_->name.c_str(), std::strerror(-res));
  client_eof_ = true;
  close_idle();
  maybe_destroy_idle();
}

void HttpClient::on_timer(io::Timer& t) {
  if (active_) {
    active_->on_timer(t);
    return;
  }
  if (idle_closing_) return;
  TimeNs deadline = idle_deadline();
  if (env_->loop->now() < deadline) {
    env_->loop->timers().arm(timer_, deadline);
    return;
  }
  LOG_DEBUG("http %s: %s: idle timeout", listener_->name.c_str(), client_ip_.c_str());
  if (tls_) tls_->handshake_timed_out();  // counted only if the handshake had not completed
  close_idle();
  maybe_destroy_idle();
}

void HttpClient::close_idle() {
  if (idle_closing_) return;
  idle_closing_ = true;
  env_->loop->timers().cancel(timer_);
  env_->loop->cancel(recv_);
}

void HttpClient::maybe_destroy_idle() {
  if (!idle_closing_ || recv_.armed()) return;
  finish();
}

void HttpClient::finish() {
  if (reset_) io::set_reset_on_close(fd_);
  env_->loop->timers().cancel(timer_);
  env_->loop->close(fd_);
  while (!in_.empty()) env_->loop->pool().release(in_.pop());
  shared_->active.fetch_sub(1, std::memory_order_relaxed);
  stats_->active.sub();
  --gen_->refs;
  env_->remove(this);
  delete this;
}

// ------------------------------------------------------------ HttpConnection

HttpConnection::HttpConnection(HttpClient& c)
    : client_(c),
      env_(c.env_),
      http_(c.http_),
      gen_(c.gen_),
      listener_(c.listener_),
      routes_(c.routes_),
      latest_(c.latest_),
      shared_(c.shared_),
      stats_(c.stats_),
      proxied_(c.proxied_),
      fd_(c.fd_),
      client_ip_(c.client_ip_),
      recv_(c.recv_),
      timer_(c.timer_),
      in_(c.in_),
      last_activity_(c.last_activity_),
      client_eof_(c.client_eof_),
      client_paused_(c.client_paused_),
      send_(this, kSend),
      poll_(this, kPollOut),
      parser_(c.http_->take_request_parser(Limits::from(c.listener_->limits))),
      tls_(c.tls_),
      accepted_(c.accepted_) {}

HttpConnection::~HttpConnection() {
  http_->give(std::move(parser_));
  http_->give(std::move(resp_parser_));
}

// The one deadline that applies in the current state. Activity only moves
// last_activity_; the timer re-arms itself when it fires early.
void HttpConnection::arm_deadline() {
  if (closing_ || lingering_) return;
  const auto& t = listener_->timeouts;
  TimeNs d;
  if (tls_ && !tls_->handshake_done()) d = accepted_ + t.handshake.count();
  else if (tunnel_) d = last_activity_ + t.idle.count();
  else if (req_ == Req::kHead) d = head_start_ + t.header.count();
  else if (resp_ == Resp::kWaiting && up_) d = up_deadline_ns_;
  else d = idle_limit();
  // Between keep-alive requests the deadline moves from the header timeout
  // to the later idle one and back: leaving the earlier one armed saves two
  // heap updates per request; on_timer re-checks and re-arms.
  env_->loop->timers().arm_by(timer_, d);
}

// No activity since: the idle timeout, or kDrainIdle between exchanges while draining.
TimeNs HttpConnection::idle_limit() const {
  const TimeNs d = last_activity_ + listener_->timeouts.idle.count();
  if (env_->draining && req_ == Req::kIdle && resp_ == Resp::kNone) return std::min(d, last_activity_ + kDrainIdle);
  return d;
}

void HttpConnection::on_timer(io::Timer&) {
  if (closing_) return;
  if (lingering_) {  // the linger deadline
    close_now(false);
    maybe_destroy();
    return;
  }
  TimeNs now = env_->loop->now();
  const auto& t = listener_->timeouts;
  if (tls_ && !tls_->handshake_done()) {
    if (now >= accepted_ + t.handshake.count()) {
      LOG_DEBUG("http %s: %s: TLS handshake timeout", listener_->name.c_str(), client_ip_.c_str());
      tls_->handshake_timed_out();
      close_now(false);
      maybe_destroy();
      return;
    }
  } else if (!tunnel_ && req_ == Req::kHead) {
    if (now >= head_start_ + t.header.count()) {
      LOG_DEBUG("http %s: %s: request header timeout", listener_->name.c_str(), client_ip_.c_str());
      error_response(408, "header timeout");
      maybe_destroy();
      return;
    }
  } else if (!tunnel_ && resp_ == Resp::kWaiting && up_) {
    if (now >= up_deadline_ns_) {
      if (!up_->connected() && ep_stats_) ep_stats_->connect_failures.add();
      if (up_->in_tls_handshake() && ep_stats_) ep_stats_->tls_failures.add();
      attempt_failed(upstream::FailureKind::kTimeout, 0, 504,
                     up_->connected() ? "upstream response timeout" : "upstream connect timeout");
      maybe_destroy();
      return;
    }
  } else if (now >= idle_limit()) {
    LOG_DEBUG("http %s: %s: idle timeout", listener_->name.c_str(), client_ip_.c_str());
    if (req_ == Req::kIdle && resp_ != Resp::kWaiting) close_now(false);
    else close_now(true);
    maybe_destroy();
    return;
  }
  arm_deadline();
}

void HttpConnection::on_complete(io::Op& op, int res) {
  switch (op.tag()) {
    case kRecv:
      if (lingering_ && !closing_) {
        if (res > 0) {
          env_->loop->pool().release(op.take_buffer());
          linger_bytes_ += static_cast<uint64_t>(res);
          if (linger_bytes_ > kMaxLingerBytes) close_now(false);
        } else if (res == -ECANCELED && !recv_.armed()) {
          env_->loop->recv(recv_, fd_);  // a pause's cancel from before the lingering
        } else {
          close_now(false);  // EOF or error: the client has read what it wanted
        }
        break;
      }
      if (res > 0) {
        io::Buffer* b = op.take_buffer();
        if (closing_ || client_eof_) {
          env_->loop->pool().release(b);
          break;
        }
        last_activity_ = env_->loop->now();
        bytes_in_ += static_cast<uint64_t>(res);
        stats_->bytes_in.add(static_cast<uint64_t>(res));
        deliver(b);
        break;
      }
      if (closing_) break;
      if (res == -ECANCELED && client_paused_) {
        // Back-pressure. A resume_client() that came while the cancel was in
        // flight found recv_ still armed: check again now that it is not.
        pump_client();
        break;
      }
      if (res == -ECONNRESET && !tunnel_) {
        // Not a half-close: nothing can reach this client any more, so
        // abandon the exchange (and the upstream request) now.
        LOG_DEBUG("http %s: %s: client reset", listener_->name.c_str(), client_ip_.c_str());
        if (req_ != Req::kIdle) log_access();
        close_now(false);
      } else if (res == 0 || res == -ECONNRESET || res == -ECANCELED) {
        if (tls_ && !deliver_eof()) break;
        client_eof_ = true;
        on_client_eof();
      } else {
        LOG_DEBUG("http %s: recv: %s", listener_->name.c_str(), std::strerror(-res));
        close_now(true);
      }
      break;
    case kSend:
      if (closing_) break;
      if (res < 0) {
        LOG_DEBUG("http %s: send to client: %s", listener_->name.c_str(), std::strerror(-res));
        close_now(true);
        break;
      }
      last_activity_ = env_->loop->now();
      stats_->bytes_out.add(static_cast<uint64_t>(res));
      keeps_up_ = static_cast<size_t>(res) == sending_;
      io::consume(env_->loop->pool(), wire(), static_cast<size_t>(res));
      flush_client();
      break;
    case kPollOut:
      if (closing_) break;
      if (res < 0 && res != -ECANCELED) {
        close_now(true);
        break;
      }
      send_file_part();
      break;
  }
  maybe_destroy();
}

// ------------------------------------------------------------ request side

// Never re-entered: a handler that wants the input parsed again (an exchange
// ended and pipelined requests wait) only asks, and the running pump goes on
// once that handler returns. A nested pump would consume and release the
// buffer that the outer one is still parsing.
void HttpConnection::pump_client() {
  if (pump_depth_ > 0) {
    repump_ = true;
    return;
  }
  ++pump_depth_;
  do {
    repump_ = false;
    pump_input();
  } while (repump_ && !closing_);
  --pump_depth_;
  if (eof_deferred_ && in_.empty() && !closing_) {
    eof_deferred_ = false;
    on_client_eof();
  }
  if (flush_deferred_) {
    flush_deferred_ = false;
    flush_client();
  }
}

void HttpConnection::pump_input() {
  while (!closing_) {
    if (in_.empty() && (tunnel_ || req_ == Req::kComplete || req_ == Req::kIdle)) break;
    if (tunnel_) {
      while (!in_.empty()) {
        io::Buffer* b = in_.pop();
        if (up_) up_->send(b->readable(), b->remaining());  // else the upstream is gone: dropped
        env_->loop->pool().release(b);
      }
      if (up_ && up_->queued() >= high_water()) pause_client();
      return;
    }
    if (req_ == Req::kComplete) break;  // one exchange at a time: wait for the response
    if (!in_.empty() && (out_.bytes() >= high_water() || (up_ && up_->queued() >= high_water()))) {
      pause_client();  // as in pump_upstream: a held end-of-message is collected anyway
      return;
    }
    io::Buffer* b = in_.empty() ? nullptr : in_.front();
    if (!b && !parser_->in_message()) break;
    if (req_ == Req::kIdle) {
      adopt_latest();
      // The previous exchange's response is no concern of this request's
      // errors (a 400 for a bad pipelined head is owed, not a reset).
      head_sent_ = false;
      is_head_ = false;
      req_ = Req::kHead;
      head_start_ = env_->loop->now();
      start_ = head_start_;
      counted_ = false;
      arm_deadline();
    }
    // An empty input collects an event the parser still holds (the end of
    // a message right after its last body bytes).
    ParseResult r = parser_->parse(b ? std::string_view(reinterpret_cast<const char*>(b->readable()), b->remaining())
                                    : std::string_view());
    if (!b && r.event == ParseEvent::kNeedMore) break;
    switch (r.event) {
      case ParseEvent::kNeedMore: break;
      case ParseEvent::kHead: on_head(); break;
      case ParseEvent::kBody: on_body(r.body); break;
      case ParseEvent::kMessageComplete: on_request_complete(); break;
      case ParseEvent::kUpgrade:
        // The rest of the input is the tunnel's: wait for the upstream's 101.
        req_ = Req::kComplete;
        return;
      case ParseEvent::kError:
        LOG_DEBUG("http %s: %s: bad request: %d %s", listener_->name.c_str(), client_ip_.c_str(),
                  r.error.status, r.error.reason);
        error_response(r.error.status, r.error.reason);
        return;
    }
    if (closing_) return;
    if (!b) continue;
    b->off += static_cast<uint32_t>(r.consumed);
    in_.consumed(static_cast<uint32_t>(r.consumed));
    if (b->remaining() == 0) env_->loop->pool().release(in_.pop());
  }
  if (closing_) return;
  // Input read ahead while an exchange is still answered (pipelining) is
  // bounded like output: stop reading at the high-water mark.
  if (in_.bytes() >= high_water()) {
    pause_client();
    return;
  }
  if (client_paused_ && out_.bytes() < high_water() / 2 && !(up_ && up_->queued() >= high_water() / 2) &&
      in_.bytes() < high_water() / 2)
    resume_client();
}

void HttpConnection::on_head() {
  const RequestHead& h = parser_->head();
  req_ = Req::kBody;
  resp_ = Resp::kNone;
  action_ = Action::kNone;
  head_sent_ = request_sent_ = got_response_bytes_ = false;
  chunked_up_ = chunked_down_ = close_delimited_ = false;
  up_eof_ = false;
  up_addr_ = conf::Address();
  end_proxy_accounting();
  status_ = 0;
  bytes_out_ = 0;
  method_.assign(h.method);
  path_.assign(h.path);
  host_.assign(h.host);
  user_agent_.assign(h.header("User-Agent").value_or(""));
  request_id_.clear();
  keep_alive_ = h.keep_alive && !env_->draining;  // draining: this exchange is the last
  is_head_ = h.is_head();
  request_has_body_ = h.body != BodyKind::kNone && !(h.body == BodyKind::kLength && h.content_length == 0);
  upgrade_requested_ = h.websocket();
  request_read_ = false;
  last_activity_ = env_->loop->now();
  arm_deadline();

  RouteInput in{h.host, h.path, h.method, h.headers};
  std::optional<size_t> idx = routes_->router.match(in);
  if (!idx) {
    if (h.upgrade) parser_->decline_upgrade();
    local_response(404, "404 Not Found\n");
    return;
  }
  entry_ = &routes_->entries[*idx];
  const conf::Route& route = *entry_->route;
  // Only a WebSocket upgrade proxied to a cluster can become a tunnel; any
  // other upgrade offer (h2c, a local route) is answered as plain HTTP and
  // the connection goes on parsing requests.
  if (h.upgrade && !(upgrade_requested_ && route.cluster)) parser_->decline_upgrade();
  if (!route.cluster && h.expect_continue && request_has_body_) keep_alive_ = false;  // body not wanted
  if (upgrade_requested_ && !route.cluster) keep_alive_ = false;
  if (route.respond) {
    local_response(route.respond->status, route.respond->body);
  } else if (route.redirect) {
    std::string loc;
    const std::string& tpl = route.redirect->location;
    for (size_t i = 0; i < tpl.size();) {
      if (tpl.compare(i, 6, "{host}") == 0) { loc += strip_host_port(h.host); i += 6; }
      else if (tpl.compare(i, 6, "{path}") == 0) {  // path and query, also for an absolute-form target
        loc += h.path;
        if (!h.query.empty()) { loc += '?'; loc += h.query; }
        i += 6;
      }
      else loc += tpl[i++];
    }
    local_response(route.redirect->status, "", loc);
  } else if (route.static_files) {
    serve_static(*entry_);
  } else {
    start_proxy(*entry_);
  }
}

void HttpConnection::on_body(std::string_view data) {
  if (action_ != Action::kProxy || !up_) return;  // discarded
  if (chunked_up_) {
    char hdr[24];
    int n = std::snprintf(hdr, sizeof hdr, "%zx\r\n", data.size());
    up_->send(hdr, static_cast<size_t>(n));
    up_->send(data.data(), data.size());
    up_->send("\r\n", 2);
  } else {
    up_->send(data.data(), data.size());
  }
  up_start_ = env_->loop->now();
}

void HttpConnection::on_request_complete() {
  req_ = Req::kComplete;
  request_read_ = true;
  if (action_ == Action::kProxy && up_ && chunked_up_) up_->send("0\r\n\r\n", 5);
  if (action_ == Action::kProxy && up_ && up_->queued() == 0 && up_->connected()) request_sent_ = true;
  if (resp_ == Resp::kDone) exchange_done();
}

void HttpConnection::on_client_eof() {
  if (tunnel_) {
    if (up_) up_->shutdown_write();
    return;
  }
  if (!in_.empty()) {
    // Pipelined requests read before the EOF are still owed their responses
    // (a client may send its requests and shut down its side at once):
    // pump_client() comes back here once it has parsed them all.
    eof_deferred_ = true;
    pump_client();
    return;
  }
  ParseResult r = parser_->finish();
  if (r.event == ParseEvent::kError && req_ != Req::kIdle && req_ != Req::kComplete) {
    // The client went away in the middle of a request.
    close_now(false);
    return;
  }
  keep_alive_ = false;
  if (req_ == Req::kIdle || resp_ == Resp::kDone) {
    if (output_empty() && !send_.armed() && !poll_.armed()) {
      close_now(false);
      return;
    }
    // The last response is still going out: finish it, then close.
    close_after_flush_ = true;
    flush_client();
    return;
  }
  // A response is still owed: finish it, then close.
}

// ------------------------------------------------------------ local actions

void HttpConnection::local_response(int status, std::string_view body, std::string_view location,
                                    std::string_view content_type) {
  action_ = Action::kLocal;
  status_ = status;
  // Formatted by hand into one stack buffer, queued with one copy (snprintf
  // was 2% of a small fixed response's CPU, a queue append per piece 1.5%).
  // A piece that does not fit flushes what is gathered and goes on its own.
  char head[512];
  size_t len = 0;
  auto put = [&](std::string_view piece) {
    if (piece.empty()) return;
    if (len + piece.size() > sizeof head) {
      out(std::string_view(head, len));
      len = 0;
      if (piece.size() > sizeof head) {
        out(piece);
        return;
      }
    }
    std::memcpy(head + len, piece.data(), piece.size());
    len += piece.size();
  };
  auto put_number = [&](size_t v) {
    char num[24];
    put(std::string_view(num, static_cast<size_t>(std::to_chars(num, num + sizeof num, v).ptr - num)));
  };
  put("HTTP/1.1 ");
  put_number(static_cast<size_t>(status));
  put(" ");
  put(reason_phrase(status));
  put("\r\nServer: portico\r\n");
  if (status != 204 && status != 304) {  // neither has a body nor a Content-Length (RFC 9110 8.6)
    put("Content-Length: ");
    put_number(body.size());
    put("\r\n");
  }
  if (!body.empty()) {
    put("Content-Type: ");
    put(content_type);
    put("\r\n");
  }
  if (!location.empty()) {
    put("Location: ");
    put(location);
    put("\r\n");
  }
  if (!keep_alive_) put("Connection: close\r\n");
  put("\r\n");
  if (!is_head_) put(body);
  out(std::string_view(head, len));
  head_sent_ = true;
  resp_ = Resp::kDone;
  flush_client();
  if (req_ == Req::kComplete) exchange_done();
}

void HttpConnection::error_response(int status, const char* why) {
  if (closing_) return;
  if (status_ == 0 || !head_sent_) status_ = status;
  LOG_DEBUG("http %s: %s: %d (%s)", listener_->name.c_str(), client_ip_.c_str(), status, why);
  if (up_ || lease_) release_upstream(false);
  end_proxy_accounting();
  file_ = StaticFile();
  file_left_ = 0;
  if (head_sent_ && resp_ != Resp::kDone) {  // too late for a status: cut the response
    if (close_delimited_) {  // only a reset tells this client its body is short
      log_access();
      close_now(true);
      return;
    }
    // Its framing (Content-Length, or chunked without the last chunk) shows
    // the client that this response is short. What is queued still goes out
    // (earlier pipelined responses too: a reset would discard them), then FIN.
  } else if (!head_sent_) {
    char buf[256];
    auto n = write_error_response(status, buf, is_head_);
    out(std::string_view(buf, n.value_or(0)));
    head_sent_ = true;
  }
  // Otherwise the response is whole (a local answer, or an origin that
  // answered before the request body ended) and the request body is what
  // failed: the response still goes out. Every way, the connection closes
  // once the output is flushed.
  keep_alive_ = false;
  close_after_flush_ = true;
  resp_ = Resp::kDone;
  req_ = Req::kComplete;
  pause_client();  // nothing more from this client will be read
  log_access();
  flush_client();
}

void HttpConnection::serve_static(const RouteTable::Entry& e) {
  action_ = Action::kStatic;
  const RequestHead& h = parser_->head();
  if (h.method != "GET" && h.method != "HEAD") {
    status_ = 405;
    out("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n");
    if (!keep_alive_) out("Connection: close\r\n");
    out("\r\n");
    head_sent_ = true;
    resp_ = Resp::kDone;
    flush_client();
    if (req_ == Req::kComplete) exchange_done();
    return;
  }
  char rel_buf[4096];
  char scratch[4096];
  StaticPath sp = resolve_static_path(h.path, e.route->static_files->index, rel_buf);
  if (sp.status != 0 || !e.root) {
    local_response(sp.status ? sp.status : 404, sp.status == 400 ? "400 Bad Request\n" : "404 Not Found\n");
    return;
  }
  StaticOpen so = e.root->open_file(sp.relative, e.route->static_files->index, scratch);
  if (so.status != 0) {
    local_response(so.status, so.status == 404 ? "404 Not Found\n" : "503 Service Unavailable\n");
    return;
  }
  StaticDecision d;
  evaluate_static(h.method, h.headers, so.file.size(), so.file.mtime_sec(), so.file.mtime_nsec(), &d);
  status_ = d.status;
  char head[1024];
  std::string_view mime = mime_type(so.relative);
  int n = std::snprintf(head, sizeof head, "HTTP/1.1 %d %.*s\r\nServer: portico\r\n", d.status,
                        static_cast<int>(reason_phrase(d.status).size()), reason_phrase(d.status).data());
  out(std::string_view(head, static_cast<size_t>(n)));
  if (d.status != 304) {
    n = std::snprintf(head, sizeof head, "Content-Type: %.*s\r\nContent-Length: %llu\r\nAccept-Ranges: bytes\r\n",
                      static_cast<int>(mime.size()), mime.data(),
                      static_cast<unsigned long long>(d.status == 416 ? 0 : d.length));
    out(std::string_view(head, static_cast<size_t>(n)));
  }
  if (!d.etag.empty()) { out("ETag: "); out(d.etag); out("\r\n"); }
  if (!d.last_modified.empty()) { out("Last-Modified: "); out(d.last_modified); out("\r\n"); }
  if (!d.content_range.empty()) { out("Content-Range: "); out(d.content_range); out("\r\n"); }
  if (!keep_alive_) out("Connection: close\r\n");
  out("\r\n");
  head_sent_ = true;
  if (!is_head_ && (d.status == 200 || d.status == 206) && d.length > 0) {
    file_ = std::move(so.file);
    file_off_ = static_cast<off_t>(d.offset);
    file_left_ = d.length;
    resp_ = Resp::kFile;
  } else {
    resp_ = Resp::kDone;
  }
  flush_client();
  if (resp_ == Resp::kDone && req_ == Req::kComplete) exchange_done();
}

// Static bodies go from the page cache to the socket with sendfile(2), in
// slices so one large file cannot monopolise the worker.
void HttpConnection::send_file_part() {
  if (tls_) {
    send_file_tls();
    return;
  }
  constexpr size_t kSlice = 1 << 20;
  size_t budget = 4 * kSlice;
  while (file_left_ > 0 && budget > 0) {
    size_t want = std::min<uint64_t>(file_left_, kSlice);
    ssize_t n = ::sendfile(fd_, file_.fd(), &file_off_, want);
    if (n > 0) {
      file_left_ -= static_cast<uint64_t>(n);
      bytes_out_ += static_cast<uint64_t>(n);
      stats_->bytes_out.add(static_cast<uint64_t>(n));
      budget -= std::min<size_t>(budget, static_cast<size_t>(n));
      last_activity_ = env_->loop->now();
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      env_->loop->poll_out(poll_, fd_);
      return;
    }
    LOG_DEBUG("http %s: sendfile: %s", listener_->name.c_str(), n == 0 ? "file shrank" : std::strerror(errno));
    log_access();
    close_now(true);
    return;
  }
  if (file_left_ > 0) {  // budget used: continue after other connections had their turn
    env_->loop->poll_out(poll_, fd_);
    return;
  }
  file_ = StaticFile();
  resp_ = Resp::kDone;
  if (req_ == Req::kComplete) exchange_done();
}

// ------------------------------------------------------------ proxy

void HttpConnection::start_proxy(const RouteTable::Entry& e) {
  action_ = Action::kProxy;
  const RequestHead& h = parser_->head();
  const conf::Route& route = *e.route;
  if (!e.cluster) {
    error_response(503, "no cluster");
    return;
  }
  wc_ = gen_->cluster(*e.cluster);
  if (!wc_) {
    error_response(503, "no cluster");
    return;
  }
  hash_ = hash_key();
  // Build the upstream request head once; kept for a retry.
  http_->fit_heads(parser_->limits());
  HeaderSet& hs = http_->headers;
  hs.clear();
  bool ok = hs.assign(h.headers) && strip_hop_by_hop(hs, upgrade_requested_);
  hs.remove("Expect");
  BodyKind framing = h.body;
  chunked_up_ = framing == BodyKind::kChunked;
  ok = ok && set_framing(hs, framing, h.content_length);
  ForwardedInfo fi{client_ip_, tls_ != nullptr, h.host, h.version_minor};
  ok = ok && add_forwarding_headers(hs, fi);
  if (tls_ && listener_->tls->client_auth != conf::ClientAuth::kNone) {
    // Only the verified subject, never one the client sent itself.
    const std::string& name = listener_->tls->client_subject_header;
    hs.remove(name);
    std::string_view subject = tls_->conn().peer_subject();
    if (!subject.empty()) ok = ok && hs.set(name, subject);
  }
  if (auto id = ensure_request_id(hs, http_->rng())) request_id_.assign(*id);
  else ok = false;
  ok = ok && apply_transform(hs, route.request_headers);
  // Absolute-form: the target's authority is the host (RFC 9112 3.2.2); it is
  // what we routed on, so the origin must not see a different Host field.
  if (!h.target.empty() && h.target[0] != '/' && h.target != "*") ok = ok && hs.set("Host", h.host);
  if (route.rewrite_host) ok = ok && hs.set("Host", *route.rewrite_host);
  char target_buf[8192];
  std::string_view target = h.target;
  if (route.rewrite_path_prefix && route.match.path_prefix) {
    auto t = rewrite_path_prefix(h.path, h.query, *route.match.path_prefix, *route.rewrite_path_prefix, target_buf);
    if (t) target = *t;
  } else if (!target.empty() && target[0] != '/' && target != "*") {
    // absolute-form to origin-form
    size_t n = h.path.size();
    if (n + 1 + h.query.size() < sizeof target_buf) {
      std::memcpy(target_buf, h.path.data(), n);
      if (!h.query.empty()) {
        target_buf[n++] = '?';
        std::memcpy(target_buf + n, h.query.data(), h.query.size());
        n += h.query.size();
      }
      target = std::string_view(target_buf, n);
    }
  }
  auto size = ok ? serialize_request_head({http_->scratch.get(), http_->scratch_size}, h.method, target, hs.fields())
                 : std::nullopt;
  if (!size) {
    error_response(431, "request head too large to forward");
    return;
  }
  upstream_head_.assign(http_->scratch.get(), *size);
  if (e.cluster->proxy_protocol != conf::ProxyProtocol::kOff) {  // each such upstream connection serves one client
    uint8_t pp[l4::kProxyV1Max + 1];
    size_t n = l4::outbound_proxy_header(e.cluster->proxy_protocol, fd_, proxied_.get(), pp, sizeof pp);
    upstream_head_.insert(0, reinterpret_cast<const char*>(pp), n);
  }
  if (!resp_parser_) resp_parser_ = http_->take_response_parser(Limits::from(listener_->limits));
  resp_parser_->reset();
  resp_parser_->expect_head_response(is_head_);
  retries_left_ = 1;
  budget_ = &wc_->shared().retry_budget();
  budget_->request_started();
  retry_.emplace(&e.retry, budget_, upstream::is_idempotent_method(h.method));
  if (!start_attempt()) return;
  if (h.expect_continue && request_has_body_) out(kContinue), flush_client();
}

bool HttpConnection::send_upstream_head() {
  const conf::Route& route = *entry_->route;
  up_start_ = env_->loop->now();
  TimeNs timeout = up_->connected() ? (route.timeout ? route.timeout->count() : entry_->cluster->response_timeout.count())
                                    : entry_->cluster->connect_timeout.count();
  up_deadline_ns_ = attempt_deadline(up_start_ + timeout);
  up_->send(upstream_head_.data(), upstream_head_.size());
  arm_deadline();
  return true;
}

void HttpConnection::on_upstream_connected(UpstreamConn& c, int res) {
  if (closing_) return;
  if (res < 0) {
    LOG_DEBUG("http %s: upstream %s: connect: %s", listener_->name.c_str(), up_addr_.str().c_str(), std::strerror(-res));
    if (ep_stats_) ep_stats_->connect_failures.add();
    if (ep_stats_ && c.in_tls_handshake()) ep_stats_->tls_failures.add();
    attempt_failed(upstream::FailureKind::kConnectFailure, 0, 502, "upstream connect failed");
    maybe_destroy();
    return;
  }
  wc_->connected(lease_);
  const conf::Route& route = *entry_->route;
  up_deadline_ns_ = attempt_deadline(env_->loop->now() + (route.timeout ? route.timeout->count() : entry_->cluster->response_timeout.count()));
  arm_deadline();
  maybe_destroy();
}

void HttpConnection::on_upstream_drained(UpstreamConn&, int res) {
  if (closing_) return;
  if (res < 0) {
    LOG_DEBUG("http %s: upstream %s: send: %s", listener_->name.c_str(), up_addr_.str().c_str(), std::strerror(-res));
    attempt_failed(upstream::FailureKind::kReset, 0, 502, "upstream write failed");
    maybe_destroy();
    return;
  }
  if (req_ == Req::kComplete) request_sent_ = true;
  if (tunnel_) {
    if (client_eof_ && up_) up_->shutdown_write();
  }
  if (client_paused_ || !in_.empty()) pump_client();
  maybe_destroy();
}

void HttpConnection::on_upstream_data(UpstreamConn&, io::Buffer* b) {
  if (closing_) {
    env_->loop->pool().release(b);
    return;
  }
  got_response_bytes_ = true;
  up_in_.push(b);
  TimeNs now = env_->loop->now();
  last_activity_ = now;
  if (resp_ == Resp::kWaiting) {
    const conf::Route& route = *entry_->route;
    up_deadline_ns_ = attempt_deadline(now + (route.timeout ? route.timeout->count() : entry_->cluster->response_timeout.count()));
  }
  pump_upstream();
  maybe_destroy();
}

void HttpConnection::on_upstream_closed(UpstreamConn&, int res) {
  if (closing_) return;
  up_eof_ = true;
  if (res < 0) LOG_DEBUG("http %s: upstream %s: recv: %s", listener_->name.c_str(), up_addr_.str().c_str(), std::strerror(-res));
  if (tunnel_) {
    release_upstream(false);
    close_after_flush_ = true;
    flush_client();
    maybe_destroy();
    return;
  }
  pump_upstream();
  maybe_destroy();
}

// ------------------------------------------------------------ clusters

// The key ring_hash / maglev place the request by (hash_key:), else 0.
uint64_t HttpConnection::hash_key() const {
  const conf::Cluster& c = wc_->config();
  if (c.lb != conf::LbPolicy::kRingHash && c.lb != conf::LbPolicy::kMaglev) return 0;
  const RequestHead& h = parser_->head();
  if (c.hash_key.kind == conf::HashKey::Kind::kHeader) {
    if (auto v = h.header(c.hash_key.name)) return upstream::hash_string(*v);
  } else if (c.hash_key.kind == conf::HashKey::Kind::kCookie) {
    if (auto ck = h.header("Cookie"))
      if (auto v = upstream::find_cookie(*ck, c.hash_key.name)) return upstream::hash_string(*v);
  }
  return upstream::hash_string(client_ip_);  // client_ip, or no such header/cookie
}

// One try of the proxied request: pick an endpoint (avoiding those tried),
// take its circuit-breaker slots, get a connection, send the head.
bool HttpConnection::start_attempt() {
  const TimeNs now = env_->loop->now();
  upstream::PickError pe = wc_->acquire({now, hash_, &retry_->tried()}, false, &lease_);
  if (pe != upstream::PickError::kNone) {
    error_response(503, pe == upstream::PickError::kOverflow ? "circuit breaker: endpoints at max_connections"
                                                             : "no healthy endpoint");
    return false;
  }
  up_outcome_ = upstream::Outcome::kSuccess;
  retry_->on_attempt(lease_.endpoint());
  up_addr_ = lease_.address();
  up_ = acquire_upstream(up_addr_);
  if (up_)
    ep_stats_ = gen_->endpoint_stats(*entry_->cluster, lease_.endpoint(), up_addr_), ep_stats_->requests.add(),
    ep_stats_->active.add();
  if (!up_) {
    error_response(502, "no upstream socket");
    return false;
  }
  if (!up_->connected() && !wc_->begin_connect(lease_)) {
    error_response(503, "circuit breaker: endpoint at max_pending");
    return false;
  }
  resp_ = Resp::kWaiting;
  up_eof_ = false;
  got_response_bytes_ = false;
  request_sent_ = false;
  resp_parser_->reset();
  resp_parser_->expect_head_response(is_head_);
  send_upstream_head();
  return true;
}

// Nothing of the response went to the client and the request can be sent
// again: no body (bodies are streamed, not kept), no upgrade.
bool HttpConnection::can_replay() const {
  return wc_ && retry_ && !head_sent_ && !request_has_body_ && !upgrade_requested_ && !tunnel_;
}

// An attempt failed: retry on another endpoint when the route's policy, the
// method and the budget allow, else answer `http_status`. A retryable status
// (kStatus) that is not retried returns false and the response goes on.
bool HttpConnection::attempt_failed(upstream::FailureKind kind, int status, int http_status, const char* why) {
  using upstream::FailureKind;
  using upstream::Outcome;
  // A pooled connection the origin had closed meanwhile: not the endpoint's
  // fault; one free retry when it is safe to resend.
  const bool stale = up_ && up_->reused() && kind == FailureKind::kReset && !got_response_bytes_;
  if (kind == FailureKind::kStatus) up_outcome_ = status >= 500 ? Outcome::kServerError : Outcome::kSuccess;
  else up_outcome_ = kind == FailureKind::kConnectFailure ? Outcome::kConnectFailure
                   : kind == FailureKind::kTimeout        ? Outcome::kTimeout
                                                          : Outcome::kReset;
  bool again = false;
  if (can_replay()) {
    if (stale && retries_left_ > 0 && (idempotent(method_) || !request_sent_)) {
      --retries_left_;
      lease_ = upstream::Lease();  // released without blaming the endpoint
      again = true;
    } else {
      upstream::RetryDecision d = retry_->on_failure(
          {kind, status, kind != FailureKind::kConnectFailure}, env_->loop->now(), 0);
      again = d == upstream::RetryDecision::kRetry;
      if (!again && entry_->retry.enabled())
        LOG_DEBUG("http %s: upstream %s: %s, not retried: %s", listener_->name.c_str(), up_addr_.str().c_str(), why,
                  upstream::retry_decision_name(d));
    }
  }
  if (!again) {
    if (kind == FailureKind::kStatus) return false;
    error_response(http_status, why);
    return true;
  }
  LOG_DEBUG("http %s: upstream %s: %s, retrying", listener_->name.c_str(), up_addr_.str().c_str(), why);
  release_upstream(false);
  start_attempt();
  return true;
}

void HttpConnection::upstream_failed(int status, const char* why) {
  up_outcome_ = upstream::Outcome::kReset;
  error_response(status, why);
}

// A pooled or new connection; TLS with the cluster's context (this
// generation's) when the cluster has tls: the name sent and verified is the
// cluster's sni, else the endpoint's IP address.
UpstreamConn* HttpConnection::acquire_upstream(const conf::Address& a) {
  const auto& tls = gen_->client_context(*entry_->cluster);
  if (!tls) return http_->upstreams.acquire(a, this);
  std::string host = a.str();
  if (size_t colon = host.rfind(':'); colon != std::string::npos && a.family() != AF_UNIX) host.resize(colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return http_->upstreams.acquire(a, this, tls, host);
}

// The exchange is over: its retry slot and budget count end.
void HttpConnection::end_proxy_accounting() {
  retry_.reset();
  if (budget_) budget_->request_finished();
  budget_ = nullptr;
}

TimeNs HttpConnection::attempt_deadline(TimeNs d) const {
  if (!retry_) return d;
  TimeNs t = retry_->try_deadline(up_start_, 0);
  return t > 0 && t < d ? t : d;
}

void HttpConnection::release_upstream(bool reusable) {
  if (lease_) wc_->release(lease_, up_outcome_, env_->loop->now());
  if (!up_) return;
  if (ep_stats_) ep_stats_->active.sub(), ep_stats_ = nullptr;
  while (!up_in_.empty()) env_->loop->pool().release(up_in_.pop());
  const conf::Cluster* c = entry_ ? entry_->cluster : nullptr;
  http_->upstreams.release(up_, reusable && c && c->proxy_protocol == conf::ProxyProtocol::kOff, c ? c->pool.max_idle : 0,
                           c ? c->pool.idle_timeout.count() : 0);
  up_ = nullptr;
}

void HttpConnection::pump_upstream() {
  while (!closing_ && up_) {
    if (up_in_.empty() && (tunnel_ || !resp_parser_->in_message())) break;
    if (tunnel_) {
      while (!up_in_.empty()) {
        io::Buffer* b = up_in_.pop();
        out(std::string_view(reinterpret_cast<const char*>(b->readable()), b->remaining()));
        env_->loop->pool().release(b);
      }
      flush_client();  // may end the connection and release the upstream
      if (up_ && out_.bytes() >= high_water()) up_->pause_recv();
      return;
    }
    // Back-pressure stops new input only: with nothing buffered, the parse
    // below can only collect an event the parser holds (the end of a body
    // whose last bytes it just returned), and it must not wait for input
    // that will never come.
    if (!up_in_.empty() && out_.bytes() >= out_limit()) {
      up_->pause_recv();
      flush_client();  // the send may not be armed (called from flush_client itself)
      return;
    }
    io::Buffer* b = up_in_.empty() ? nullptr : up_in_.front();
    ParseResult r = resp_parser_->parse(
        b ? std::string_view(reinterpret_cast<const char*>(b->readable()), b->remaining()) : std::string_view());
    if (!b && r.event == ParseEvent::kNeedMore) break;
    switch (r.event) {
      case ParseEvent::kNeedMore: break;
      case ParseEvent::kHead: on_response_head(); break;
      case ParseEvent::kBody:
        if (chunked_down_) out_chunk(r.body);
        else out(r.body);
        break;
      case ParseEvent::kMessageComplete:
        if (resp_parser_->head().interim() || resp_parser_->head().switching_protocols) break;
        if (b) {
          b->off += static_cast<uint32_t>(r.consumed);
          up_in_.consumed(static_cast<uint32_t>(r.consumed));
          if (b->remaining() == 0) env_->loop->pool().release(up_in_.pop());
        }
        on_response_complete();
        return;
      case ParseEvent::kUpgrade:
        start_tunnel();
        return;
      case ParseEvent::kError:
        LOG_DEBUG("http %s: upstream %s: bad response: %s", listener_->name.c_str(), up_addr_.str().c_str(), r.error.reason);
        attempt_failed(upstream::FailureKind::kReset, 0, 502, r.error.reason);
        return;
    }
    if (closing_ || !up_ || restarted_) {  // restarted_: a retry dropped b with the old connection
      restarted_ = false;
      return;
    }
    if (!b) continue;
    b->off += static_cast<uint32_t>(r.consumed);
    up_in_.consumed(static_cast<uint32_t>(r.consumed));
    if (b->remaining() == 0) env_->loop->pool().release(up_in_.pop());
  }
  if (closing_ || !up_) return;
  post_flush();
  if (up_eof_ && up_in_.empty()) {
    ParseResult r = resp_parser_->finish();
    if (r.event == ParseEvent::kMessageComplete) {
      on_response_complete();
    } else if (resp_ == Resp::kWaiting && !head_sent_) {
      attempt_failed(upstream::FailureKind::kReset, 0, 502, "upstream closed before responding");
    } else {
      // Cut off in the middle of a body: the client must not take it as whole.
      LOG_DEBUG("http %s: upstream %s closed mid-response", listener_->name.c_str(), up_addr_.str().c_str());
      error_response(502, "upstream closed mid-response");
    }
    return;
  }
  if (up_ && out_.bytes() < high_water() / 2) up_->resume_recv();
}

void HttpConnection::on_response_head() {
  const ResponseHead& h = resp_parser_->head();
  if (h.interim()) {
    forward_interim(h);
    return;
  }
  if (h.switching_protocols && !upgrade_requested_) {
    upstream_failed(502, "unexpected 101 from upstream");
    return;
  }
  up_outcome_ = h.status >= 500 ? upstream::Outcome::kServerError : upstream::Outcome::kSuccess;
  if (!h.switching_protocols && entry_->retry.enabled() && entry_->retry.retries_status(h.status) &&
      attempt_failed(upstream::FailureKind::kStatus, h.status, 0, "retryable status")) {
    restarted_ = true;
    return;
  }
  status_ = h.status;
  if (upgrade_requested_ && !h.switching_protocols) keep_alive_ = false;  // the client may already be sending
  // The origin answers before the request body has ended (an upload it
  // refuses): the rest of that body will never belong to an exchange, so this
  // response is the connection's last, and its head must say so (RFC 9112 9.6).
  // Deciding once the response has ended would be too late for the client.
  if (req_ != Req::kComplete && !h.switching_protocols) keep_alive_ = false;
  if (env_->draining && !h.switching_protocols) keep_alive_ = false;  // drain began while it was in flight
  HeaderSet& hs = http_->headers;
  hs.clear();
  bool ok = hs.assign(h.headers) && strip_hop_by_hop(hs, h.switching_protocols);
  BodyKind down = h.body;
  if (h.body == BodyKind::kUntilClose || h.body == BodyKind::kChunked) {
    if (parser_->head().version_minor >= 1) {
      down = BodyKind::kChunked;
    } else {
      // An HTTP/1.0 client knows no chunked coding (RFC 9112 7): the body
      // goes as it is, delimited by closing the connection.
      down = BodyKind::kUntilClose;
      close_delimited_ = true;
      keep_alive_ = false;
    }
  }
  chunked_down_ = down == BodyKind::kChunked;
  if (!h.switching_protocols) ok = ok && set_framing(hs, down, h.content_length);
  if (h.status == 204) hs.remove("content-length");  // never on a 204 (RFC 9110 8.6)
  ok = ok && apply_transform(hs, entry_->route->response_headers);
  if (!keep_alive_ && !h.switching_protocols) ok = ok && hs.set("Connection", "close");
  if (parser_->head().version_minor == 0 && keep_alive_ && !close_delimited_) ok = ok && hs.set("Connection", "keep-alive");
  auto size = ok ? serialize_response_head({http_->scratch.get(), http_->scratch_size}, h.status, h.reason, hs.fields())
                 : std::nullopt;
  if (!size) {
    upstream_failed(502, "response head too large");
    return;
  }
  out(std::string_view(http_->scratch.get(), *size));
  head_sent_ = true;
  resp_ = Resp::kBody;
  arm_deadline();
}

// An origin's 1xx before its final response. A proxy passes them on (RFC 9110
// 15.2), as HAProxy does: 103 Early Hints lets a browser fetch what the page
// will need while the origin still works on it. Not to an HTTP/1.0 client,
// which knows no 1xx; and not 100 Continue, which portico answered itself
// (the Expect was not forwarded). Hop-by-hop fields go, as from any head;
// the route's response_headers are for the final response. A 1xx commits
// nothing: a retry or a 502 may still follow it.
void HttpConnection::forward_interim(const ResponseHead& h) {
  if (h.status == 100 || parser_->head().version_minor < 1) return;
  HeaderSet& hs = http_->headers;
  hs.clear();
  bool ok = hs.assign(h.headers) && strip_hop_by_hop(hs, false);
  auto size = ok ? serialize_response_head({http_->scratch.get(), http_->scratch_size}, h.status, h.reason, hs.fields())
                 : std::nullopt;
  if (!size) return;  // cannot be larger than the final head may be: dropped, as before
  out(std::string_view(http_->scratch.get(), *size));
}

void HttpConnection::out_chunk(std::string_view data) {
  if (data.empty()) return;
  char hdr[24];
  int n = std::snprintf(hdr, sizeof hdr, "%zx\r\n", data.size());
  out(std::string_view(hdr, static_cast<size_t>(n)));
  out(data);
  out("\r\n");
}

void HttpConnection::on_response_complete() {
  if (chunked_down_) out("0\r\n\r\n");
  const ResponseHead& h = resp_parser_->head();
  bool reusable = h.keep_alive && req_ == Req::kComplete && request_sent_ && up_in_.empty() && !up_eof_ &&
                  up_->queued() == 0;
  release_upstream(reusable);
  resp_ = Resp::kDone;
  if (close_delimited_) close_after_flush_ = true;
  flush_client();
  if (req_ == Req::kComplete) exchange_done();
  else pump_client();
}

void HttpConnection::start_tunnel() {
  tunnel_ = true;
  req_ = Req::kComplete;
  resp_ = Resp::kDone;
  log_access();
  // Whatever followed the heads on either side already belongs to the tunnel.
  pump_upstream();
  pump_client();
  arm_deadline();
}

// ------------------------------------------------------------ output & lifecycle

void HttpConnection::flush_client() {
  if (closing_ || send_.armed() || poll_.armed()) return;
  if (pump_depth_ > 0) {
    flush_deferred_ = true;
    return;
  }
  if (tls_ && !out_.empty() && tls_->encrypt(env_->loop->pool(), out_, wire_, high_water()) == tls::Status::kError) {
    tls_failed("write");
    return;
  }
  // The last bytes of a connection's last response: close_notify rides in the
  // same send instead of a send (and a segment) of its own after it.
  if (tls_ && close_after_flush_ && out_.empty() && !wire_.empty() && !tls_close_sent_ &&
      tls_->handshake_done() && !(resp_ == Resp::kFile && file_left_ > 0)) {
    tls_close_sent_ = true;
    tls_->shutdown(env_->loop->pool(), wire_);
  }
  if (!wire().empty()) {
    send_msg_ = {};
    send_msg_.msg_iov = send_iov_;
    size_t bytes = 0;
    send_msg_.msg_iovlen = io::gather(wire(), send_iov_, kMaxIov, &bytes);
    // The connection's last bytes: the FIN (shutdown or close) follows as
    // soon as this send completes, and MSG_MORE lets it join them in one
    // segment instead of a packet and a wake-up of the client of its own.
    const bool last = close_after_flush_ && !(resp_ == Resp::kFile && file_left_ > 0) &&
                      bytes == wire().bytes();
    sending_ = bytes;
    env_->loop->sendmsg(send_, fd_, &send_msg_, last ? MSG_MORE : 0);
    return;
  }
  if (!out_.empty()) return;  // TLS handshake still in progress
  if (resp_ == Resp::kFile && file_left_ > 0) {
    send_file_part();
    return;
  }
  if (close_after_flush_) {
    if (tls_ && tls_->handshake_done() && !tls_close_sent_) {
      tls_close_sent_ = true;
      tls_->shutdown(env_->loop->pool(), wire_);
      if (!wire_.empty()) {
        flush_client();
        return;
      }
    }
    start_lingering();
    return;
  }
  // Output drained: let the producers go on.
  if (up_ && !tunnel_) {
    if (!up_in_.empty()) pump_upstream();
    else up_->resume_recv();
  } else if (tunnel_ && up_) {
    up_->resume_recv();
  }
  if (client_paused_ || (!in_.empty() && req_ != Req::kComplete)) pump_client();
  if (client_eof_ && !keep_alive_ && resp_ == Resp::kDone && output_empty() && !tunnel_) close_now(false);
}

void HttpConnection::exchange_done() {
  if (tunnel_ || closing_) return;
  end_proxy_accounting();
  log_access();
  if (!keep_alive_ || (client_eof_ && in_.empty())) {
    close_after_flush_ = true;
    flush_client();
    return;
  }
  req_ = Req::kIdle;
  resp_ = Resp::kNone;
  action_ = Action::kNone;
  entry_ = nullptr;
  status_ = 0;
  last_activity_ = env_->loop->now();
  arm_deadline();
  if (!in_.empty()) pump_client();
  else resume_client();
}

void HttpConnection::log_access() {
  if (status_ != 0 && !counted_) {  // metrics: each exchange once, on its route (or the unmatched slot)
    counted_ = true;
    (entry_ ? entry_->stats : routes_->unmatched)->record(status_, static_cast<uint64_t>(env_->loop->now() - start_) / 1000);
  }
  if (!http_->access_log.enabled() || status_ == 0) return;
  TimeNs now = env_->loop->now();
  AccessEntry e;
  e.listener = listener_->name;
  e.client = client_ip_;
  e.method = method_;
  e.path = path_;
  e.host = host_;
  e.status = status_;
  e.bytes_in = bytes_in_;
  e.bytes_out = bytes_out_;
  e.request_id = request_id_;
  e.user_agent = user_agent_;
  if (tls_) {
    e.tls = tls_->conn().version_name();
    e.alpn = tls_->conn().alpn();
  }
  if (action_ == Action::kProxy) {
    up_address_ = up_addr_.len ? up_addr_.str() : std::string();
    e.upstream = up_address_;
    e.upstream_us = (now - up_start_) / 1000;
  }
  e.total_us = (now - start_) / 1000;
  http_->access_log.log(e);
  bytes_in_ = 0;
}

// After a response that ends the connection: send FIN, then read and discard
// until the client closes, the linger deadline, or kMaxLingerBytes. Closing
// with unread input would make the kernel answer with a reset, which can
// destroy the response in flight (the client never sees its 400 or 413).
// Lingering exists so that a client whose request (or pipelined requests) we
// did not read gets our last response instead of a reset. When everything the
// client sent has been read and nothing more is waiting in the socket, there
// is nothing to protect: close at once, as nginx does (lingering_close on).
void HttpConnection::start_lingering() {
  if (lingering_ || closing_) return;
  int pending = 0;
  // A tunnel lingers too: its client may still be sending into it, and
  // closing with unread bytes would reset what is still on its way to it.
  if (client_eof_ ||
      (!tunnel_ && request_read_ && in_.empty() && ::ioctl(fd_, SIOCINQ, &pending) == 0 && pending == 0)) {
    close_now(false);
    return;
  }
  lingering_ = true;
  ::shutdown(fd_, SHUT_WR);
  if (up_) release_upstream(false);
  while (!in_.empty()) env_->loop->pool().release(in_.pop());
  client_paused_ = false;
  if (!recv_.armed()) env_->loop->recv(recv_, fd_);
  env_->loop->timers().arm(timer_, env_->loop->now() + listener_->timeouts.linger.count());
}

void HttpConnection::close_now(bool reset) {
  if (closing_) return;
  closing_ = true;
  reset_ = reset;
  env_->loop->timers().cancel(timer_);
  if (up_ || lease_) release_upstream(false);
  end_proxy_accounting();
  env_->loop->cancel(recv_);
  env_->loop->cancel(send_);
  env_->loop->cancel(poll_);
}

// Called only at the end of an event handler (it may free this and the
// client): frees both once closed and nothing is armed, or hands the
// connection back to its HttpClient once the exchange is over.
void HttpConnection::maybe_destroy() {
  if (!closing_) {
    if (!quiescent()) return;
    if (client_paused_ && !recv_.armed()) resume_client();
    client_.active_ = nullptr;
    destroy();
    return;
  }
  if (recv_.armed() || send_.armed() || poll_.armed() || posted()) return;
  while (!out_.empty()) env_->loop->pool().release(out_.pop());
  while (!wire_.empty()) env_->loop->pool().release(wire_.pop());
  while (!up_in_.empty()) env_->loop->pool().release(up_in_.pop());
  HttpClient& c = client_;
  c.reset_ = reset_;
  c.active_ = nullptr;
  destroy();
  c.finish();
}

// ------------------------------------------------------------ TLS seam

// Received bytes: plaintext straight into in_, or through the TLS pipe
// (decrypted into in_, handshake flights and alerts into wire_).
void HttpConnection::deliver(io::Buffer* b) {
  if (!tls_) {
    // A small read goes into the free space of the last buffer: a client
    // trickling bytes while its previous request is still being answered
    // holds a few buffers, not one per read (the pool also feeds the
    // upstream side, which must stay able to receive the response).
    io::Buffer* tail = in_.back();
    const uint32_t cap = env_->loop->pool().size();
    if (tail && b->remaining() <= cap / 4 && cap - tail->len >= b->remaining()) {
      io::append(env_->loop->pool(), in_, b->readable(), b->remaining());
      env_->loop->pool().release(b);
    } else {
      in_.push(b);
    }
    pump_client();
    return;
  }
  tls::Status st = tls_->deliver(env_->loop->pool(), b, in_, wire_);
  if (tls_->take_handshake_event()) on_handshake_done();
  if (st == tls::Status::kError) {
    tls_failed(tls_->handshake_done() ? "read" : "handshake");
    return;
  }
  pump_client();
  if (closing_) return;
  if (st == tls::Status::kClosed && !client_eof_) {  // close_notify: a half-close
    client_eof_ = true;
    on_client_eof();
    if (closing_) return;
  }
  flush_client();
}

// The client closed the socket. False when that ends the connection here.
bool HttpConnection::deliver_eof() {
  tls::Status st = tls_->on_eof(env_->loop->pool(), in_, wire_);
  if (!tls_->handshake_done()) {  // counted by the pipe
    LOG_DEBUG("http %s: %s: closed during the TLS handshake", listener_->name.c_str(), client_ip_.c_str());
    close_now(false);
    return false;
  }
  // Without close_notify (most clients just close): the parser still
  // decides whether a request was cut short.
  (void)st;
  return true;
}

// Fatal TLS error: the alert goes out best-effort (never blocking), then close.
void HttpConnection::tls_failed(const char* where) {
  const tls::TlsError& e = tls_->conn().error();
  LOG_DEBUG("http %s: %s: TLS %s failed: %s (%s)", listener_->name.c_str(), client_ip_.c_str(), where,
            tls::kind_name(e.kind), e.reason);
  if (!send_.armed())
    for (io::Buffer* b = wire_.front(); b; b = b->next)
      if (::send(fd_, b->readable(), b->remaining(), MSG_DONTWAIT | MSG_NOSIGNAL) != ssize_t(b->remaining())) break;
  if (req_ != Req::kIdle) log_access();
  close_now(false);
}

void HttpConnection::on_handshake_done() {
  const tls::TlsConn& c = tls_->conn();
  LOG_DEBUG("http %s: %s: %s%s alpn=%.*s sni=%.*s", listener_->name.c_str(), client_ip_.c_str(), c.version_name(),
            c.resumed() ? " resumed" : "", static_cast<int>(c.alpn().size()), c.alpn().data(),
            static_cast<int>(c.sni().size()), c.sni().data());
  last_activity_ = env_->loop->now();
  arm_deadline();  // from the handshake deadline to the idle one
}

// Static files under TLS: no sendfile; read slices into pool buffers (page
// cache reads, like sendfile's), which flush_client() encrypts. At most
// limits.buffer of plaintext is read ahead.
void HttpConnection::send_file_tls() {
  io::BufferPool& pool = env_->loop->pool();
  while (file_left_ > 0 && out_.bytes() < high_water()) {
    io::Buffer* b = pool.acquire_any();
    b->len = b->off = 0;
    size_t want = std::min<uint64_t>(file_left_, pool.size());
    ssize_t n = ::pread(file_.fd(), b->data, want, file_off_);
    if (n <= 0) {
      pool.release(b);
      if (n < 0 && errno == EINTR) continue;
      LOG_DEBUG("http %s: read: %s", listener_->name.c_str(), n == 0 ? "file shrank" : std::strerror(errno));
      log_access();
      close_now(true);
      return;
    }
    b->len = static_cast<uint32_t>(n);
    out_.push(b);
    file_off_ += n;
    file_left_ -= static_cast<uint64_t>(n);
    bytes_out_ += static_cast<uint64_t>(n);
  }
  last_activity_ = env_->loop->now();
  if (file_left_ > 0) {
    flush_client();
    return;
  }
  file_ = StaticFile();
  resp_ = Resp::kDone;
  flush_client();
  if (req_ == Req::kComplete) exchange_done();
}

}  // namespace

void start_http_connection(const HttpListenerContext& ctx, int client_fd) {
  const uint32_t limit = ctx.listener->limits.max_connections;
  if (ctx.shared->active.fetch_add(1, std::memory_order_relaxed) >= limit) {
    ctx.shared->active.fetch_sub(1, std::memory_order_relaxed);
    ctx.stats->refused.add();
    LOG_DEBUG("http %s: connection limit %u reached", ctx.listener->name.c_str(), limit);
    ctx.env->loop->close(client_fd);
    return;
  }
  // TCP_NODELAY comes from the listening socket (io::open_listener).
  auto* c = new HttpClient(ctx, client_fd);
  if (!c->start(ctx.tls)) c->abort();
}

}  // namespace portico::http
