// The floor of TLS termination with this BoringSSL on this kernel, for
// `scripts/bench floor`: a server that does nothing but the TLS work and a fixed
// 64-byte HTTP response. Same certificate, protocol (TLS 1.3) and defaults
// (two session tickets after a full handshake, a server session cache) as the
// proxies it is set beside. A benchmark reference only: no timeouts, no limits, no
// HTTP parsing beyond finding the end of a request head.
//
//   bench_floor_tls serial    PORT CERT KEY   one connection at a time, blocking:
//                                             handshake, one request, close (s_time)
//   bench_floor_tls keepalive PORT CERT KEY   epoll, any number of keep-alive
//                                             connections, one response per request (wrk)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n"
    "portico-bench 64-byte body 0123456789abcdefghijklmnopqrstuvwxyz\n";

int listen_on(int port, int flags) {
  int fd = socket(AF_INET, SOCK_STREAM | flags, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0) {
    perror("bench_floor_tls: listen");
    exit(1);
  }
  return fd;
}

void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Answers every request head that ends in buf[0, n); `tail` carries the last three
// bytes over from the previous read so that a "\r\n\r\n" split across reads counts.
void answer_heads(SSL* s, const char* buf, int n, std::string& tail) {
  tail.append(buf, static_cast<size_t>(n));
  size_t from = 0, at;
  while ((at = tail.find("\r\n\r\n", from)) != std::string::npos) {
    SSL_write(s, kResponse.data(), static_cast<int>(kResponse.size()));
    from = at + 4;
  }
  tail.erase(0, from);
  if (tail.size() > 3) tail.erase(0, tail.size() - 3);
}

void serve_serial(SSL_CTX* ctx, int port) {
  int ls = listen_on(port, 0);
  char buf[16384];
  for (;;) {
    int c = accept(ls, nullptr, nullptr);
    if (c < 0) continue;
    nodelay(c);
    SSL* s = SSL_new(ctx);
    SSL_set_fd(s, c);
    if (SSL_accept(s) == 1) {
      std::string tail;
      for (;;) {
        int r = SSL_read(s, buf, sizeof buf);
        if (r <= 0) break;
        size_t before = tail.size();
        answer_heads(s, buf, r, tail);
        if (tail.size() < before + static_cast<size_t>(r)) break;  // answered: done
      }
      SSL_shutdown(s);
    }
    SSL_free(s);
    close(c);
  }
}

void serve_keepalive(SSL_CTX* ctx, int port) {
  int ls = listen_on(port, SOCK_NONBLOCK);
  int ep = epoll_create1(0);
  auto watch = [ep](int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  watch(ls);
  struct Conn {
    SSL* ssl = nullptr;
    std::string tail;
  };
  std::vector<Conn> conns(65536);
  char buf[16384];
  epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          if (static_cast<size_t>(c) >= conns.size()) {
            close(c);
            continue;
          }
          nodelay(c);
          SSL* s = SSL_new(ctx);
          SSL_set_fd(s, c);
          SSL_set_accept_state(s);
          conns[c].ssl = s;
          conns[c].tail.clear();
          watch(c);
        }
        continue;
      }
      Conn& conn = conns[fd];
      for (;;) {
        int r = SSL_read(conn.ssl, buf, sizeof buf);
        if (r > 0) {
          answer_heads(conn.ssl, buf, r, conn.tail);
          continue;
        }
        if (SSL_get_error(conn.ssl, r) != SSL_ERROR_WANT_READ) {
          SSL_free(conn.ssl);
          conn.ssl = nullptr;
          close(fd);
        }
        break;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 || (std::strcmp(argv[1], "serial") != 0 && std::strcmp(argv[1], "keepalive") != 0)) {
    fprintf(stderr, "usage: bench_floor_tls serial|keepalive PORT CERT KEY\n");
    return 2;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  if (SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  int port = atoi(argv[2]);
  if (argv[1][0] == 's')
    serve_serial(ctx, port);
  else
    serve_keepalive(ctx, port);
}
