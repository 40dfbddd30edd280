// bench_http_idle: opens many idle HTTP/1.1 keep-alive connections, for the memory part
// of the HTTP proxy benchmark. One thread, epoll.
// For each step count in --steps (ascending), it opens connections until that many are
// open; each connection sends one `GET /` request, reads the whole response (status 200,
// Content-Length body) and then stays open and idle. At most --in-flight requests are
// outstanding at a time (so the proxy needs few upstream connections). When a step is
// reached it prints one JSON line and waits for a line on stdin ("next") before the next
// step; after the last step it waits for "quit" or stdin EOF, prints a final line with
// how many connections are still open (a proxy that closed idle connections shows up
// here), closes everything and exits. Every wait is bounded (--timeout per step, --hold
// overall); never connects anywhere but the --target given (loopback only).
//
// Usage: bench_http_idle --target 127.0.0.1:P --steps 1000,11000 [--in-flight K]
//                        [--timeout S] [--hold S]
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // memmem, strcasestr
#endif
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

enum { kMaxConns = 200000, kMaxSteps = 8, kMaxEvents = 256, kHeadMax = 4096 };
static const char kRequest[] = "GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench_http_idle\r\n\r\n";

typedef enum { kFree = 0, kWaiting, kIdle } State;

typedef struct {
  int fd;
  State state;
  int head_len;      // bytes of the response head seen so far (until CRLFCRLF)
  long body_left;    // body bytes still expected, once the head is complete (-1 before)
  double start;
  char head[kHeadMax];
} Conn;

// The run: all connections, counters and the epoll set (stdin is in it too, data 2^32).
typedef struct {
  const struct sockaddr_in* sa;
  Conn* conns;
  int ep, cap, in_flight_max, in_flight, next_slot;
  long idle, started, failed, bad_status, peer_closed, timeouts;
  int stdin_done;
  char line[64];
  int line_len;
} Run;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_http_idle --target 127.0.0.1:P --steps N1,N2,... [--in-flight K]\n"
          "                       [--timeout S] [--hold S]\n");
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

static void drop(Run* r, int i) {
  Conn* c = &r->conns[i];
  if (c->state == kWaiting) --r->in_flight;
  if (c->state == kIdle) --r->idle;
  close(c->fd);
  c->fd = -1;
  c->state = kFree;
}

// Opens connection i (a free slot) and sends its request; the request waits in the
// socket buffer until the connect completes.
static void open_one(Run* r, int i) {
  Conn* c = &r->conns[i];
  ++r->started;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { ++r->failed; return; }
  if (connect(fd, (const struct sockaddr*)r->sa, sizeof *r->sa) != 0 && errno != EINPROGRESS) {
    ++r->failed;
    close(fd);
    return;
  }
  struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u64 = (uint64_t)i};
  epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &e);
  c->fd = fd;
  c->state = kWaiting;
  c->head_len = 0;
  c->body_left = -1;
  c->start = now_s();
  ++r->in_flight;
}

// Sends the request once the connect completed (EPOLLOUT), then waits for input only.
static void send_request(Run* r, int i) {
  Conn* c = &r->conns[i];
  ssize_t w = send(c->fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL);
  if (w != (ssize_t)(sizeof kRequest - 1)) { ++r->failed; drop(r, i); return; }
  struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
  epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &e);
}

// Consumes response bytes; a connection becomes idle when its whole response is read.
static void on_readable(Run* r, int i) {
  Conn* c = &r->conns[i];
  char buf[4096];
  for (int tries = 0; tries < 8; ++tries) {  // bounded per event
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      if (c->state == kIdle) ++r->peer_closed;
      else ++r->failed;
      drop(r, i);
      return;
    }
    if (n < 0) return;
    if (c->state == kIdle) { ++r->failed; drop(r, i); return; }  // unexpected bytes
    long off = 0;
    if (c->body_left < 0) {
      long take = n;
      if (c->head_len + take > kHeadMax) take = kHeadMax - c->head_len;
      memcpy(c->head + c->head_len, buf, (size_t)take);
      int old = c->head_len;
      c->head_len += (int)take;
      char* end = memmem(c->head, (size_t)c->head_len, "\r\n\r\n", 4);
      if (!end) {
        if (c->head_len >= kHeadMax) { ++r->failed; drop(r, i); }
        continue;
      }
      long head_total = (long)(end - c->head) + 4;
      off = head_total - old;  // bytes of buf that belonged to the head
      c->head[head_total - 1] = 0;
      if (strncmp(c->head, "HTTP/1.1 200", 12) != 0) { ++r->bad_status; drop(r, i); return; }
      const char* cl = strcasestr(c->head, "\r\ncontent-length:");
      if (!cl) { ++r->failed; drop(r, i); return; }  // only Content-Length framing expected
      c->body_left = strtol(cl + 17, NULL, 10);
    }
    c->body_left -= n - off;
    if (c->body_left < 0) { ++r->failed; drop(r, i); return; }
    if (c->body_left == 0) {
      c->state = kIdle;
      --r->in_flight;
      ++r->idle;
      return;
    }
  }
}

// Reads stdin; returns 1 when a full line (or EOF) arrived.
static int on_stdin(Run* r) {
  char ch;
  for (;;) {
    ssize_t n = read(0, &ch, 1);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
      r->stdin_done = 1;
      epoll_ctl(r->ep, EPOLL_CTL_DEL, 0, NULL);
      return 1;
    }
    if (ch == '\n') { r->line[r->line_len] = 0; r->line_len = 0; return 1; }
    if (r->line_len < (int)sizeof r->line - 1) r->line[r->line_len++] = ch;
  }
}

// One pass of the event loop: up to 50 ms. Returns 1 if stdin delivered a line or EOF.
static int poll_once(Run* r, double timeout) {
  struct epoll_event evs[kMaxEvents];
  int n = epoll_wait(r->ep, evs, kMaxEvents, 50);
  int got_line = 0;
  for (int k = 0; k < n; ++k) {
    if (evs[k].data.u64 == (1ull << 32)) { got_line |= on_stdin(r); continue; }
    int i = (int)evs[k].data.u64;
    Conn* c = &r->conns[i];
    if (c->fd < 0) continue;
    if (c->state == kWaiting && (evs[k].events & EPOLLOUT) && !(evs[k].events & EPOLLIN))
      send_request(r, i);
    else
      on_readable(r, i);
  }
  double now = now_s();
  for (int i = 0; i < r->next_slot && r->in_flight > 0; ++i)  // per-request timeout
    if (r->conns[i].state == kWaiting && now - r->conns[i].start > timeout) {
      ++r->timeouts;
      drop(r, i);
    }
  return got_line;
}

static void report(const Run* r, const char* what, long target, double secs) {
  printf("{\"event\":\"%s\",\"target\":%ld,\"open\":%ld,\"started\":%ld,\"failed\":%ld,"
         "\"bad_status\":%ld,\"peer_closed\":%ld,\"timeouts\":%ld,\"seconds\":%.3f}\n",
         what, target, r->idle, r->started, r->failed, r->bad_status, r->peer_closed,
         r->timeouts, secs);
  fflush(stdout);
}

int main(int argc, char** argv) {
  const char* target = NULL;
  long steps[kMaxSteps];
  int nsteps = 0, in_flight = 64;
  double timeout = 30, hold = 300;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--target")) target = v;
    else if (!strcmp(a, "--in-flight")) in_flight = atoi(v);
    else if (!strcmp(a, "--timeout")) timeout = atof(v);
    else if (!strcmp(a, "--hold")) hold = atof(v);
    else if (!strcmp(a, "--steps")) {
      for (const char* p = v; *p && nsteps < kMaxSteps;) {
        steps[nsteps++] = strtol(p, (char**)&p, 10);
        if (*p == ',') ++p;
        else if (*p) usage();
      }
    } else usage();
    ++i;
  }
  struct sockaddr_in sa;
  if (!target || parse_target(target, &sa) != 0) {
    fprintf(stderr, "bench_http_idle: --target must be a loopback IPv4 host:port\n");
    return 2;
  }
  if (nsteps == 0 || in_flight < 1 || in_flight > 4096 || timeout <= 0 || timeout > 600 ||
      hold <= 0 || hold > 3600)
    usage();
  for (int k = 0; k < nsteps; ++k)
    if (steps[k] < 1 || steps[k] > kMaxConns || (k > 0 && steps[k] <= steps[k - 1])) usage();
  long cap = steps[nsteps - 1];
  // Room for twice the target (failed slots are not reused) within the fd limit.
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if ((rlim_t)cap + 64 > rl.rlim_cur) {
    fprintf(stderr, "bench_http_idle: RLIMIT_NOFILE %llu is too low for %ld connections\n",
            (unsigned long long)rl.rlim_cur, cap);
    return 2;
  }
  Run r = {.sa = &sa, .cap = (int)(2 * cap), .in_flight_max = in_flight};
  r.conns = calloc((size_t)r.cap, sizeof(Conn));
  if (!r.conns) return 1;
  for (int i = 0; i < r.cap; ++i) r.conns[i].fd = -1;
  r.ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event se = {.events = EPOLLIN, .data.u64 = 1ull << 32};
  epoll_ctl(r.ep, EPOLL_CTL_ADD, 0, &se);
  double t_start = now_s(), hard_stop = t_start + hold;
  int rc = 0;
  for (int k = 0; k < nsteps && rc == 0; ++k) {
    double t0 = now_s(), step_stop = t0 + timeout;
    while (r.idle < steps[k]) {
      // Slots are used once: a failed connection is not retried in the same slot.
      while (r.in_flight < r.in_flight_max && r.idle + r.in_flight < steps[k] &&
             r.next_slot < r.cap)
        open_one(&r, r.next_slot++);
      if (r.in_flight == 0 && r.next_slot >= r.cap) break;  // out of slots
      if (now_s() > step_stop || now_s() > hard_stop) break;
      if (poll_once(&r, timeout) && r.stdin_done) break;  // harness went away
    }
    int reached = r.idle >= steps[k];
    report(&r, reached ? "step" : "step_failed", steps[k], now_s() - t0);
    if (!reached) { rc = 1; break; }
    // Wait for the harness ("next", then "quit" after the last step), bounded.
    while (!r.stdin_done && now_s() < hard_stop)
      if (poll_once(&r, timeout)) break;
    if (r.stdin_done && k + 1 < nsteps) break;
  }
  report(&r, "final", steps[nsteps - 1], now_s() - t_start);
  for (int i = 0; i < r.next_slot; ++i)
    if (r.conns[i].fd >= 0) close(r.conns[i].fd);
  free(r.conns);
  close(r.ep);
  return rc;
}
