#pragma once
// Leveled logging to stderr: one line per event, written with a single
// write(2) so lines from different threads never interleave. Any thread may
// log; each thread names itself once ("main", "w0", "w1", ...).

#include <atomic>

namespace portico::log {

enum class Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

extern std::atomic<int> g_level;

inline bool enabled(Level l) { return static_cast<int>(l) <= g_level.load(std::memory_order_relaxed); }
void set_level(Level l);
void set_thread_name(const char* name);  // copied; at most 15 characters kept

// printf-style; the line gets a timestamp, the level and the thread name.
void write(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace portico::log

#define PORTICO_LOG(level, ...)                                       \
  do {                                                                \
    if (::portico::log::enabled(level)) ::portico::log::write(level, __VA_ARGS__); \
  } while (0)
#define LOG_ERROR(...) PORTICO_LOG(::portico::log::Level::kError, __VA_ARGS__)
#define LOG_WARN(...) PORTICO_LOG(::portico::log::Level::kWarn, __VA_ARGS__)
#define LOG_INFO(...) PORTICO_LOG(::portico::log::Level::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) PORTICO_LOG(::portico::log::Level::kDebug, __VA_ARGS__)
