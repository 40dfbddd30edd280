// bench_l4_client: load generator for the L4 proxy benchmark. One thread, epoll.
//   stream: one connection, read until EOF, report MiB/s (the origin sends N bytes).
//   storm:  K concurrent connections for T seconds; each connects, reads the origin's
//           1 byte, waits for EOF (so the TIME_WAIT lands on the server side, not on
//           our ephemeral ports), closes; report completed connections per second.
// Prints one JSON object on stdout. Every wait is bounded (--timeout, --duration,
// --max-conns); never connects anywhere but the --target given (loopback only).
//
// Usage: bench_l4_client stream --target 127.0.0.1:P [--bytes N] [--timeout S]
//        bench_l4_client storm  --target 127.0.0.1:P [--concurrency K] [--duration T]
//                               [--timeout S] [--max-conns M]
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kBuf = 256 * 1024, kMaxConcurrency = 4096, kMaxEvents = 256 };
enum { kHistUs = 10, kHistBuckets = 200000 };  // 10 us buckets up to 2 s

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_l4_client stream --target 127.0.0.1:P [--bytes N] [--timeout S]\n"
          "       bench_l4_client storm  --target 127.0.0.1:P [--concurrency K]\n"
          "                              [--duration T] [--timeout S] [--max-conns M]\n");
  exit(2);
}

static int parse_target(const char* s, struct sockaddr_in* sa) {
  char host[64];
  const char* colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  int port = atoi(colon + 1);
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1) return -1;
  // Loopback only: this tool must never load anything but this machine.
  if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) return -1;
  sa->sin_port = htons((uint16_t)port);
  return 0;
}

static int run_stream(const struct sockaddr_in* sa, uint64_t expect, double timeout) {
  char* buf = malloc(kBuf);
  if (!buf) return 1;
  double cpu0 = cpu_s();
  double t0 = now_s();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {.tv_sec = (time_t)timeout, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const char* err = NULL;
  uint64_t got = 0;
  if (connect(fd, (const struct sockaddr*)sa, sizeof *sa) != 0) {
    err = strerror(errno);
  } else {
    double deadline = t0 + timeout;
    for (;;) {
      // MSG_TRUNC on TCP discards the bytes in the kernel without copying them out:
      // the load side stays cheap so the proxy, not the client, is measured.
      ssize_t r = recv(fd, buf, kBuf, MSG_TRUNC);
      if (r > 0) {
        got += (uint64_t)r;
        if (got > expect) break;
        if (now_s() > deadline) { err = "timeout"; break; }
        continue;
      }
      if (r == 0) break;
      if (errno == EINTR && now_s() < deadline) continue;
      err = errno == EAGAIN ? "timeout" : strerror(errno);
      break;
    }
  }
  double secs = now_s() - t0;
  close(fd);
  if (!err && got != expect) err = "short or long stream";
  double mib = (double)got / (1024.0 * 1024.0);
  printf("{\"mode\":\"stream\",\"ok\":%s,\"error\":\"%s\",\"bytes\":%llu,\"expected\":%llu,"
         "\"seconds\":%.6f,\"mib_per_s\":%.3f,\"client_cpu_s\":%.6f}\n",
         err ? "false" : "true", err ? err : "", (unsigned long long)got,
         (unsigned long long)expect, secs, secs > 0 ? mib / secs : 0.0, cpu_s() - cpu0);
  free(buf);
  return err ? 1 : 0;
}

typedef struct {
  int fd;  // -1 = free slot
  int got_byte;
  double start;
} Slot;

// State of one storm run: the slots, the counters and the latency histogram.
typedef struct {
  const struct sockaddr_in* sa;
  Slot* slots;
  uint32_t* hist;
  int ep, conc, active;
  double stop_at;
  uint64_t max_conns, started, ok, empty, errors, timeouts, over;
  uint64_t refused, reset, addr_unavailable, other;
} Storm;

static void count_error(Storm* st, int err) {
  ++st->errors;
  if (err == ECONNREFUSED) ++st->refused;
  else if (err == ECONNRESET) ++st->reset;
  else if (err == EADDRNOTAVAIL) ++st->addr_unavailable;
  else ++st->other;
}

// Opens a new connection in slot i, or leaves it free once the run is over.
static void storm_start(Storm* st, int i) {
  st->slots[i].fd = -1;
  if (now_s() >= st->stop_at || st->started >= st->max_conns) return;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { count_error(st, errno); return; }
  ++st->started;
  if (connect(fd, (const struct sockaddr*)st->sa, sizeof *st->sa) != 0 && errno != EINPROGRESS) {
    count_error(st, errno);
    close(fd);
    return;
  }
  struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
  epoll_ctl(st->ep, EPOLL_CTL_ADD, fd, &e);
  st->slots[i] = (Slot){.fd = fd, .got_byte = 0, .start = now_s()};
  ++st->active;
}

static void storm_finish(Storm* st, int i) {
  close(st->slots[i].fd);
  st->slots[i].fd = -1;
  --st->active;
}

// Reads what slot i has; returns 1 when the connection is over (EOF or error).
static int storm_read(Storm* st, int i) {
  Slot* s = &st->slots[i];
  char buf[64];
  for (int tries = 0; tries < 4; ++tries) {  // the byte, then EOF; bounded
    ssize_t r = read(s->fd, buf, sizeof buf);
    if (r > 0) { s->got_byte = 1; continue; }
    if (r == 0) {
      if (!s->got_byte) { ++st->empty; return 1; }
      ++st->ok;
      uint64_t b = (uint64_t)((now_s() - s->start) * 1e6) / kHistUs;
      if (b >= kHistBuckets) { ++st->over; b = kHistBuckets - 1; }
      ++st->hist[b];
      return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EINTR) continue;
    count_error(st, errno);
    return 1;
  }
  return 0;
}

static double percentile_us(const uint32_t* hist, uint64_t total, double p) {
  if (total == 0) return 0;
  uint64_t want = (uint64_t)((double)total * p);
  if (want >= total) want = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < kHistBuckets; ++i) {
    seen += hist[i];
    if (seen > want) return (double)(i + 1) * kHistUs;
  }
  return (double)kHistBuckets * kHistUs;
}

static int run_storm(const struct sockaddr_in* sa, int conc, double duration, double timeout,
                     uint64_t max_conns) {
  Storm st = {.sa = sa, .conc = conc, .max_conns = max_conns};
  st.slots = calloc((size_t)conc, sizeof(Slot));
  st.hist = calloc(kHistBuckets, sizeof(uint32_t));
  if (!st.slots || !st.hist) return 1;
  st.ep = epoll_create1(EPOLL_CLOEXEC);
  double cpu0 = cpu_s();
  double t0 = now_s();
  st.stop_at = t0 + duration;
  double hard_stop = st.stop_at + timeout + 1.0;
  for (int i = 0; i < conc; ++i) storm_start(&st, i);
  struct epoll_event evs[kMaxEvents];
  double next_sweep = t0 + 0.1;
  while (st.active > 0 || (now_s() < st.stop_at && st.started < max_conns)) {
    double now = now_s();
    if (now > hard_stop) break;
    if (st.active < conc)  // refill slots whose connect failed, while the run lasts
      for (int i = 0; i < conc; ++i) if (st.slots[i].fd < 0) storm_start(&st, i);
    int n = epoll_wait(st.ep, evs, kMaxEvents, 50);
    if (n < 0 && errno != EINTR) break;
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u64;
      if (st.slots[i].fd < 0) continue;
      if (storm_read(&st, i)) { storm_finish(&st, i); storm_start(&st, i); }
    }
    now = now_s();
    if (now >= next_sweep) {  // per-connection timeout
      next_sweep = now + 0.1;
      for (int i = 0; i < conc; ++i)
        if (st.slots[i].fd >= 0 && now - st.slots[i].start > timeout) {
          ++st.timeouts;
          storm_finish(&st, i);
          storm_start(&st, i);
        }
    }
  }
  for (int i = 0; i < conc; ++i)
    if (st.slots[i].fd >= 0) { ++st.timeouts; storm_finish(&st, i); }
  double secs = now_s() - t0;  // includes the short drain of in-flight connections
  printf("{\"mode\":\"storm\",\"ok\":%s,\"connections\":%llu,\"empty\":%llu,\"errors\":%llu,"
         "\"refused\":%llu,\"reset\":%llu,\"addr_unavailable\":%llu,\"other_errors\":%llu,"
         "\"timeouts\":%llu,\"seconds\":%.6f,\"conns_per_s\":%.1f,\"p50_us\":%.0f,"
         "\"p99_us\":%.0f,\"client_cpu_s\":%.6f}\n",
         st.ok > 0 ? "true" : "false", (unsigned long long)st.ok,
         (unsigned long long)st.empty, (unsigned long long)st.errors,
         (unsigned long long)st.refused, (unsigned long long)st.reset,
         (unsigned long long)st.addr_unavailable, (unsigned long long)st.other,
         (unsigned long long)st.timeouts, secs, secs > 0 ? (double)st.ok / secs : 0.0,
         percentile_us(st.hist, st.ok, 0.50), percentile_us(st.hist, st.ok, 0.99),
         cpu_s() - cpu0);
  free(st.slots);
  free(st.hist);
  close(st.ep);
  return st.ok > 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const char* mode = argv[1];
  const char* target = NULL;
  uint64_t bytes = 1ull << 30, max_conns = 10000000;
  int conc = 64;
  double duration = 5, timeout = 30;
  for (int i = 2; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--target")) target = v;
    else if (!strcmp(a, "--bytes")) bytes = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--concurrency")) conc = atoi(v);
    else if (!strcmp(a, "--duration")) duration = atof(v);
    else if (!strcmp(a, "--timeout")) timeout = atof(v);
    else if (!strcmp(a, "--max-conns")) max_conns = strtoull(v, NULL, 10);
    else usage();
    ++i;
  }
  struct sockaddr_in sa;
  if (!target || parse_target(target, &sa) != 0) {
    fprintf(stderr, "bench_l4_client: --target must be a loopback IPv4 host:port\n");
    return 2;
  }
  if (timeout <= 0 || timeout > 600 || duration <= 0 || duration > 600) usage();
  if (!strcmp(mode, "stream")) return run_stream(&sa, bytes, timeout);
  if (!strcmp(mode, "storm")) {
    if (conc < 1 || conc > kMaxConcurrency || max_conns < 1) usage();
    return run_storm(&sa, conc, duration, timeout, max_conns);
  }
  usage();
  return 2;
}
