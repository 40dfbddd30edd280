#pragma once
// The downstream side of the L7 proxy: one accepted HTTP/1.x connection.
// Parses requests (keep-alive, pipelining: one exchange at a time, responses
// in request order), routes each, and runs the route's action: proxy to a
// cluster through a pooled upstream connection (bodies streamed both ways
// with back-pressure), a static file (sendfile), a redirect or a fixed
// response. WebSocket upgrades become a raw tunnel after the upstream's 101.
// Lives and dies on one worker.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "proxy/http/access_log.hpp"
#include "proxy/http/headers.hpp"
#include "proxy/http/router.hpp"
#include "proxy/http/static_path.hpp"
#include "proxy/http/upstream.hpp"
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
    upstream::RetryPolicy retry;             // proxy routes: `retries:`
  };
  Router router;
  std::vector<Entry> entries;

  static std::shared_ptr<const RouteTable> build(const conf::Config& c, const conf::Listener& l);
};

// Per-worker HTTP services shared by all its connections.
struct HttpWorker {
  explicit HttpWorker(io::Loop* loop, const conf::AccessLog& log);
  UpstreamPool upstreams;
  AccessLog access_log;
  HeaderSet headers;               // scratch for one head at a time
  std::unique_ptr<char[]> scratch; // serialised heads
  size_t scratch_size = 64 * 1024;
  uint64_t rng_state;
  RandomSource rng();
};

struct HttpListenerContext {
  l4::WorkerEnv* env;
  HttpWorker* http;
  l4::Generation* gen;
  const conf::Listener* listener;
  std::shared_ptr<const RouteTable> routes;
  l4::ListenerShared* shared;
};

// Takes ownership of client_fd (closes it on every path).
void start_http_connection(const HttpListenerContext& ctx, int client_fd);

}  // namespace portico::http
