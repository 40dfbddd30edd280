#pragma once
// Per-worker access log: lines are appended to a buffer and written out by
// the loop (when the buffer passes 32 KiB, and every 200 ms), so logging a
// request costs a formatted append, not a syscall. Worker-thread only.

#include <string>

#include "conf/config.hpp"
#include "proxy/io/loop.hpp"

namespace portico::http {

struct AccessEntry {
  std::string_view listener;
  std::string_view client;
  std::string_view method;
  std::string_view path;
  std::string_view host;
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string_view upstream;  // "" when not proxied
  int64_t upstream_us = -1;   // -1 when not proxied
  int64_t total_us = 0;
  std::string_view request_id;
  std::string_view user_agent;
  std::string_view tls;   // "TLSv1.3" etc. on TLS connections, else ""
  std::string_view alpn;  // negotiated ALPN protocol, "" if none
};

class AccessLog final : private io::TimerHandler {
 public:
  AccessLog(io::Loop* loop, const conf::AccessLog& cfg);
  ~AccessLog();
  bool enabled() const { return fd_ >= 0; }
  void log(const AccessEntry& e);
  void flush();
  // Opens the file again by its path (SIGUSR1, after logrotate moved it):
  // what is buffered goes to the old file first. Keeps the old file if the
  // path cannot be opened.
  void reopen();

 private:
  void on_timer(io::Timer&) override;
  io::Loop* loop_;
  std::string path_;
  int fd_ = -1;
  bool own_fd_ = false;
  conf::AccessFormat format_;
  std::string buf_;
  io::Timer timer_;
};

}  // namespace portico::http
