// bench_l4_origin: a minimal, fast TCP origin for the L4 proxy benchmark.
// One thread, one epoll loop, non-blocking sockets; it must never be the bottleneck.
//   stream mode: every accepted connection gets N bytes as fast as possible, then close.
//   one mode (alias echo-close): every accepted connection gets 1 byte, then close (connection storm).
// Listens on 127.0.0.1:PORT (0 = any free port); prints "port=P" on stdout once
// listening. Exits after --max-seconds (bounded) or on SIGTERM/SIGINT.
//
// Usage: bench_l4_origin --mode stream|one [--port P] [--bytes N]
//                        [--max-seconds S] [--max-conns C]
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kModeStream = 0, kModeOne = 1 };
enum { kChunk = 256 * 1024, kMaxEvents = 256 };

static int g_memfd = -1;  // kChunk bytes in a memfd: sendfile() pages, no user copy

typedef struct {
  int fd;
  uint64_t left;  // bytes still to write (stream mode)
  int in_use;
} Conn;

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_l4_origin --mode stream|one [--port P] [--bytes N]\n"
          "                       [--max-seconds S] [--max-conns C]\n");
  exit(2);
}

// Writes as much as the socket takes; returns 1 when the connection is finished.
static int pump(Conn* c, const char* buf) {
  while (c->left > 0) {
    size_t n = c->left < kChunk ? (size_t)c->left : (size_t)kChunk;
    off_t off = 0;
    ssize_t w = g_memfd >= 0 ? sendfile(c->fd, g_memfd, &off, n)
                             : send(c->fd, buf, n, MSG_NOSIGNAL);
    if (w > 0) {
      c->left -= (uint64_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return 1;  // peer went away: drop the connection
  }
  return 1;
}

int main(int argc, char** argv) {
  int mode = -1, port = 0;
  uint64_t bytes = 1ull << 30;
  double max_seconds = 600;
  long max_conns = 16384;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--mode")) {
      mode = !strcmp(v, "stream") ? kModeStream : (!strcmp(v, "one") || !strcmp(v, "echo-close")) ? kModeOne : -1;
    } else if (!strcmp(a, "--port")) {
      port = atoi(v);
    } else if (!strcmp(a, "--bytes")) {
      bytes = strtoull(v, NULL, 10);
    } else if (!strcmp(a, "--max-seconds")) {
      max_seconds = atof(v);
    } else if (!strcmp(a, "--max-conns")) {
      max_conns = atol(v);
    } else {
      usage();
    }
    ++i;
  }
  if (mode < 0 || port < 0 || port > 65535 || max_conns < 1 || max_conns > 1000000 ||
      max_seconds <= 0)
    usage();

  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(lfd, 4096) != 0) {
    perror("bench_l4_origin: bind/listen");
    return 1;
  }
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr*)&sa, &sl);
  printf("port=%d\n", ntohs(sa.sin_port));
  fflush(stdout);

  char* buf = malloc(kChunk);
  Conn* conns = calloc((size_t)max_conns, sizeof(Conn));
  if (!buf || !conns) return 1;
  memset(buf, 'x', kChunk);
  g_memfd = memfd_create("bench_l4_origin", MFD_CLOEXEC);
  if (g_memfd >= 0 && write(g_memfd, buf, kChunk) != kChunk) {
    close(g_memfd);
    g_memfd = -1;  // fall back to send()
  }

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[kMaxEvents];
  long free_hint = 0, accepted = 0, dropped = 0;
  double deadline = now_s() + max_seconds;

  while (!g_stop && now_s() < deadline) {
    int n = epoll_wait(ep, evs, kMaxEvents, 200);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == UINT64_MAX) {
        for (int k = 0; k < 1024; ++k) {  // bounded accept batch per wake-up
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          ++accepted;
          if (mode == kModeOne) {
            // One byte then close: the client's 1-byte read, then EOF.
            (void)send(fd, "x", 1, MSG_NOSIGNAL);
            close(fd);
            continue;
          }
          long slot = -1;
          for (long s = 0; s < max_conns; ++s) {
            long idx = (free_hint + s) % max_conns;
            if (!conns[idx].in_use) { slot = idx; break; }
          }
          if (slot < 0) { ++dropped; close(fd); continue; }
          free_hint = slot + 1;
          Conn* c = &conns[slot];
          c->fd = fd; c->left = bytes; c->in_use = 1;
          if (pump(c, buf)) { close(fd); c->in_use = 0; continue; }
          struct epoll_event cev = {.events = EPOLLOUT | EPOLLET, .data.u64 = (uint64_t)slot};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      Conn* c = &conns[evs[i].data.u64];
      if (!c->in_use) continue;
      if ((evs[i].events & (EPOLLERR | EPOLLHUP)) || pump(c, buf)) {
        close(c->fd);  // closing removes it from the epoll set
        c->in_use = 0;
      }
    }
  }
  fprintf(stderr, "bench_l4_origin: accepted=%ld dropped=%ld\n", accepted, dropped);
  return 0;
}
