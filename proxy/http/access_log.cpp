#include "proxy/http/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "proxy/base/log.hpp"

namespace portico::http {

namespace {
constexpr size_t kFlushAt = 32 * 1024;
constexpr TimeNs kFlushEvery = 200 * kNsPerMs;

void json_escaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Combined format fields: quotes and control bytes escaped.
void clf_escaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
}
}  // namespace

AccessLog::AccessLog(io::Loop* loop, const conf::AccessLog& cfg)
    : loop_(loop), format_(cfg.format), timer_(this, 0) {
  if (cfg.path == "off") return;
  if (cfg.path == "stderr") {
    fd_ = 2;
  } else {
    path_ = cfg.path;
    fd_ = ::open(cfg.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) LOG_ERROR("access log %s: %s", cfg.path.c_str(), std::strerror(errno));
    own_fd_ = fd_ >= 0;
  }
  buf_.reserve(kFlushAt * 2);
}

void AccessLog::reopen() {
  if (path_.empty()) return;  // off, or stderr
  flush();
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    LOG_ERROR("access log %s: reopen: %s; still writing to the old file", path_.c_str(), std::strerror(errno));
    return;
  }
  if (own_fd_) ::close(fd_);
  fd_ = fd;
  own_fd_ = true;
}

AccessLog::~AccessLog() {
  flush();
  loop_->timers().cancel(timer_);
  if (own_fd_) ::close(fd_);
}

void AccessLog::log(const AccessEntry& e) {
  if (fd_ < 0) return;
  char num[160];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tmv;
  gmtime_r(&ts.tv_sec, &tmv);
  if (format_ == conf::AccessFormat::kJson) {
    std::snprintf(num, sizeof num, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"listener\":\"",
                  tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec,
                  ts.tv_nsec / 1000000);
    buf_ += num;
    json_escaped(buf_, e.listener);
    buf_ += "\",\"client\":\"";
    json_escaped(buf_, e.client);
    buf_ += "\",\"method\":\"";
    json_escaped(buf_, e.method);
    buf_ += "\",\"host\":\"";
    json_escaped(buf_, e.host);
    buf_ += "\",\"path\":\"";
    json_escaped(buf_, e.path);
    std::snprintf(num, sizeof num, "\",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,\"upstream\":\"",
                  e.status, static_cast<unsigned long long>(e.bytes_in),
                  static_cast<unsigned long long>(e.bytes_out));
    buf_ += num;
    json_escaped(buf_, e.upstream);
    if (e.upstream_us >= 0)
      std::snprintf(num, sizeof num, "\",\"upstream_time\":%.6f,\"total_time\":%.6f,\"request_id\":\"",
                    e.upstream_us / 1e6, e.total_us / 1e6);
    else
      std::snprintf(num, sizeof num, "\",\"upstream_time\":null,\"total_time\":%.6f,\"request_id\":\"",
                    e.total_us / 1e6);
    buf_ += num;
    json_escaped(buf_, e.request_id);
    if (!e.tls.empty()) {
      buf_ += "\",\"tls\":\"";
      json_escaped(buf_, e.tls);
      buf_ += "\",\"alpn\":\"";
      json_escaped(buf_, e.alpn);
    }
    buf_ += "\"}\n";
  } else {
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    buf_ += e.client.empty() ? std::string_view("-") : e.client;
    std::snprintf(num, sizeof num, " - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"", tmv.tm_mday,
                  kMonths[tmv.tm_mon], tmv.tm_year + 1900, tmv.tm_hour, tmv.tm_min, tmv.tm_sec);
    buf_ += num;
    clf_escaped(buf_, e.method);
    buf_ += ' ';
    clf_escaped(buf_, e.path);
    std::snprintf(num, sizeof num, " HTTP/1.1\" %d %llu \"-\" \"", e.status,
                  static_cast<unsigned long long>(e.bytes_out));
    buf_ += num;
    clf_escaped(buf_, e.user_agent);
    std::snprintf(num, sizeof num, "\" upstream=%.*s upstream_time=%.6f total_time=%.6f\n",
                  static_cast<int>(e.upstream.empty() ? 1 : e.upstream.size()),
                  e.upstream.empty() ? "-" : e.upstream.data(), e.upstream_us < 0 ? 0.0 : e.upstream_us / 1e6,
                  e.total_us / 1e6);
    buf_ += num;
  }
  if (buf_.size() >= kFlushAt) flush();
  else if (!timer_.armed()) loop_->timers().arm(timer_, loop_->now() + kFlushEvery);
}

void AccessLog::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;  // a log that cannot be written loses lines, never the request
    }
    off += static_cast<size_t>(n);
  }
  buf_.clear();
}

void AccessLog::on_timer(io::Timer&) { flush(); }

}  // namespace portico::http
