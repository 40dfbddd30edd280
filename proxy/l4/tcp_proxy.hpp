#pragma once
// An L4 TCP relay: one accepted client connection, one upstream connection,
// bytes copied both ways through pool buffers with back-pressure (a side
// stops reading while the other side has `limits.buffer` bytes queued),
// half-close propagated, connect and idle deadlines. Created by a listener
// on a worker; lives and dies on that worker. With listener tls the client
// side is TLS (terminated here) and the upstream gets the plaintext.

#include "proxy/io/loop.hpp"
#include "proxy/l4/proxy_protocol.hpp"
#include "proxy/l4/session.hpp"

namespace portico::l4 {

struct TcpSessionParams {
  WorkerEnv* env;
  Generation* gen;
  const conf::Listener* listener;
  const conf::Cluster* cluster;
  ListenerShared* shared;
  ListenerStats* stats = WorkerStats::listener_sink();
  const ProxyHeader* proxied = nullptr;  // a trusted inbound PROXY header (its addresses win)
  tls::ServerContext* tls = nullptr;  // listener tls (owned by gen): terminate, relay plaintext
};

// The PROXY header a cluster with `proxy_protocol: v1|v2` sends first on a new
// upstream connection for client `client_fd`; returns its length (0: off).
size_t outbound_proxy_header(conf::ProxyProtocol mode, int client_fd, const ProxyHeader* proxied,
                             uint8_t* out, size_t cap);

// Takes ownership of client_fd (closes it on every path).
void start_tcp_session(const TcpSessionParams& p, int client_fd);

}  // namespace portico::l4
