#pragma once
// A listener as one worker runs it: its own SO_REUSEPORT socket, and the
// protocol handler new connections or datagrams go to. Reconfigured in place
// on reload when the socket is kept; stopped (then freed) when removed.

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"
#include "proxy/l4/session.hpp"
#include "proxy/l4/udp_proxy.hpp"

namespace portico::server {

class WorkerListener {
 public:
  virtual ~WorkerListener() = default;
  virtual void configure(l4::Generation* gen, const conf::Listener* l) = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual bool stopped() const = 0;
  virtual int fd() const = 0;

  static std::unique_ptr<WorkerListener> create(l4::WorkerEnv* env, const conf::Listener& l, int fd,
                                                l4::ListenerShared* shared);
};

}  // namespace portico::server
