#include "proxy/base/log.hpp"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace portico::log {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

namespace {
thread_local char t_name[16] = "main";
const char* const kLevelNames[] = {"error", "warn", "info", "debug"};
}  // namespace

void set_level(Level l) { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }

void set_thread_name(const char* name) {
  std::strncpy(t_name, name, sizeof t_name - 1);
  t_name[sizeof t_name - 1] = '\0';
}

void write(Level l, const char* fmt, ...) {
  char line[2048];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tmv;
  gmtime_r(&ts.tv_sec, &tmv);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
                        tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min,
                        tmv.tm_sec, ts.tv_nsec / 1000000, kLevelNames[static_cast<int>(l)], t_name);
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof line - 2) len = sizeof line - 2;  // truncated line
  line[len++] = '\n';
  // One write per line: atomic on pipes for lines up to PIPE_BUF.
  ssize_t r = ::write(2, line, len);
  (void)r;
}

}  // namespace portico::log
