#pragma once
// The downstream side of the L7 proxy: one accepted HTTP/1.x connection.
// Parses requests (keep-alive, pipelining: one exchange at a time, responses
// in request order), routes each, and runs the route's action: proxy to a
// cluster through a pooled upstream connection (bodies streamed both ways
// with back-pressure), a static file (sendfile), a redirect or a fixed
// response. WebSocket upgrades become a raw tunnel after the upstream's 101.
// On a TLS listener an l4::TlsPipe sits between the socket and the parser
// (static files are then read and encrypted instead of sendfile'd).
// Lives and dies on one worker.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/http/access_log.hpp"
#include "proxy/http/headers.hpp"
#include "proxy/http/request_parser.hpp"
#include "proxy/http/response_parser.hpp"
#include "proxy/http/router.hpp"
#include "proxy/http/static_path.hpp"
#include "proxy/http/upstream.hpp"
#include "proxy/l4/tcp_proxy.hpp"
#include "proxy/l4/session.hpp"
#include "proxy/upstream/retry.hpp"

namespace portico::http {

// The compiled form of one http listener's routes for one config generation.
// Built on the worker (static roots hold directory fds); immutable after.
struct RouteTable {
  struct Entry {
    const conf::Route* route = nullptr;
    const conf::Cluster* cluster = nullptr;  // proxy routes
    std::optional<StaticRoot> root;          // static routes
    l4::RouteStats* stats = l4::WorkerStats::route_sink();  // this worker's counters
    upstream::RetryPolicy retry;             // proxy routes: `retries:`
  };
  Router router;
  std::vector<Entry> entries;
  l4::RouteStats* unmatched = l4::WorkerStats::route_sink();  // requests no route matched

  // `stats`: the worker's metrics registry (null: counters go to a sink).
  static std::shared_ptr<const RouteTable> build(const conf::Config& c, const conf::Listener& l,
                                                 l4::WorkerStats* stats = nullptr);
};

// The newest generation, listener settings and routes of one listener on one
// worker, updated in place by the listener on reload. A keep-alive connection
// adopts them between requests, so a reload reaches long-lived connections.
// gen is null once the listener is removed (connections keep what they have).
struct ListenerLatest {
  l4::Generation* gen = nullptr;
  const conf::Listener* listener = nullptr;
  std::shared_ptr<const RouteTable> routes;
};

// Per-worker HTTP services shared by all its connections.
struct HttpWorker {
  explicit HttpWorker(io::Loop* loop, const conf::AccessLog& log);
  UpstreamPool upstreams;
  AccessLog access_log;
  HeaderSet headers;               // scratch for one head at a time
  std::unique_ptr<char[]> scratch; // serialised heads
  size_t scratch_size = 64 * 1024;
  // Grows `headers` and `scratch` so that a head within `l` (as the parser
  // lets it through), plus what portico adds, can be rewritten and forwarded.
  // Sized for the defaults at start; a listener with larger limits grows them
  // once, on its first proxied request.
  void fit_heads(const Limits& l);
  uint64_t rng_state;
  RandomSource rng();

  // Parsers are held only by exchanges in progress and recycled here, so an
  // idle keep-alive connection holds none (their head arenas are the bulk
  // of a connection's memory). At most kFreeParsers of each kind are kept.
  static constexpr size_t kFreeParsers = 256;
  std::unique_ptr<RequestParser> take_request_parser(const Limits& l);
  std::unique_ptr<ResponseParser> take_response_parser(const Limits& l);
  void give(std::unique_ptr<RequestParser> p);
  void give(std::unique_ptr<ResponseParser> p);

  // The storage of exchange objects (one per request on a keep-alive
  // connection) is recycled the same way: at most kFreeExchanges blocks of
  // `size` bytes are kept, so a request costs no heap allocation for it.
  static constexpr size_t kFreeExchanges = 256;
  void* take_exchange_storage(size_t size);
  void give_exchange_storage(void* p, size_t size);

 private:
  struct FreeBlock {
    void operator()(void* p) const { ::operator delete(p); }
  };
  std::vector<std::unique_ptr<void, FreeBlock>> free_exchanges_;
  std::vector<std::unique_ptr<RequestParser>> free_request_parsers_;
  std::vector<std::unique_ptr<ResponseParser>> free_response_parsers_;
};

struct HttpListenerContext {
  l4::WorkerEnv* env;
  HttpWorker* http;
  l4::Generation* gen;
  const conf::Listener* listener;
  std::shared_ptr<const RouteTable> routes;
  l4::ListenerShared* shared;
  l4::ListenerStats* stats = l4::WorkerStats::listener_sink();
  std::string_view client_ip = {};  // from a trusted PROXY header; empty = the socket's peer
  const l4::ProxyHeader* proxied = nullptr;  // that header (for PROXY headers sent upstream)
  std::shared_ptr<const ListenerLatest> latest = {};  // null: stay on `gen` for life
  tls::ServerContext* tls = nullptr;  // the listener's, this generation (null: plain text)
};

// Takes ownership of client_fd (closes it on every path).
void start_http_connection(const HttpListenerContext& ctx, int client_fd);

}  // namespace portico::http
