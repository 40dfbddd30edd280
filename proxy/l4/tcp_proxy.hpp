#pragma once
// An L4 TCP relay: one accepted client connection, one upstream connection,
// bytes copied both ways through pool buffers with back-pressure (a side
// stops reading while the other side has `limits.buffer` bytes queued),
// half-close propagated, connect and idle deadlines. Created by a listener
// on a worker; lives and dies on that worker. With listener tls the client
// side is TLS (terminated here) and the upstream gets the plaintext.

#include "proxy/io/loop.hpp"
#include "proxy/l4/session.hpp"

namespace portico::l4 {

struct TcpSessionParams {
  WorkerEnv* env;
  Generation* gen;
  const conf::Listener* listener;
  const conf::Cluster* cluster;
  ListenerShared* shared;
  tls::ServerContext* tls = nullptr;  // listener tls (owned by gen): terminate, relay plaintext
};

// Takes ownership of client_fd (closes it on every path).
void start_tcp_session(const TcpSessionParams& p, int client_fd);

}  // namespace portico::l4
