// The floor of any 1:1 TCP proxy on this kernel, for `scripts/bench floor`: a relay that
// does nothing but move bytes. Each accepted connection gets its own upstream
// connection; every readable socket is read once into one buffer and the bytes are
// written to the other side. No parsing, no timeouts, no backpressure (the loads it
// is measured with are request/response: a socket always has room for one answer).
// A benchmark reference only, never a proxy: it trusts its peers completely.
//
//   bench_floor_relay LISTEN_PORT UPSTREAM_PORT     (both on 127.0.0.1)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kMaxFd = 65536 };
static int peer[kMaxFd];

static int tcp_socket(int flags) {
  int fd = socket(AF_INET, SOCK_STREAM | flags, 0), one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void watch(int ep, int fd) {
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_floor_relay LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  struct sockaddr_in here = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &here.sin_addr);
  struct sockaddr_in up = here;
  up.sin_port = htons(atoi(argv[2]));
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr*)&here, sizeof here) || listen(ls, 4096)) {
    perror("bench_floor_relay: listen");
    return 1;
  }
  int ep = epoll_create1(0);
  watch(ep, ls);
  static char buf[16384];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          // A blocking connect: it happens once per client connection, outside what
          // a keep-alive load measures.
          int u = tcp_socket(0);
          if (c >= kMaxFd || u < 0 || u >= kMaxFd ||
              connect(u, (struct sockaddr*)&up, sizeof up) != 0) {
            close(c);
            if (u >= 0) close(u);
            continue;
          }
          int nb = 1;
          ioctl(u, FIONBIO, &nb);
          peer[c] = u;
          peer[u] = c;
          watch(ep, c);
          watch(ep, u);
        }
        continue;
      }
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0 || send(peer[fd], buf, (size_t)r, MSG_NOSIGNAL) != r) {
        close(peer[fd]);  // closing removes both from the epoll set
        close(fd);
      }
    }
  }
}
