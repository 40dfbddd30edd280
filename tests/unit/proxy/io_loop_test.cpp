// The same behaviour from both backends: these cases run once per backend.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "proxy/io/loop.hpp"
#include "proxy/io/socket.hpp"

using namespace portico;
using namespace portico::io;

namespace {

std::unique_ptr<Loop> make(Backend b) {
  std::string why;
  if (b == Backend::kIoUring && !probe_io_uring(why)) return nullptr;
  LoopOptions o;
  o.buffers = 64;
  o.buffer_size = 4096;
  o.ring_entries = 64;
  return make_loop(b, o, why);
}

struct Collector final : OpHandler {
  Loop* loop = nullptr;
  std::string data;
  int finals = 0;
  int last_res = 1;
  int accepted = -1;
  void on_complete(Op& op, int res) override {
    if (op.kind() == OpKind::kRecv && res > 0) {
      Buffer* b = op.take_buffer();
      data.append(reinterpret_cast<char*>(b->data), b->len);
      loop->pool().release(b);
    }
    if (op.kind() == OpKind::kAccept && res >= 0) accepted = res;
    if (!op.more()) {
      ++finals;
      last_res = res;
    }
  }
};

void spin(Loop& l, int turns = 20) {
  for (int i = 0; i < turns; ++i) l.run_once(5 * kNsPerMs);
}

// Turns until op's final completion (bounded: 50 turns of at most 5 ms).
void run_until_done(Loop& l, const Op& op) {
  for (int i = 0; i < 50 && op.armed(); ++i) l.run_once(5 * kNsPerMs);
}

// A TCP listener on 127.0.0.1 at a free port; `a` gets its address.
int loopback_listener(sockaddr_in& a) {
  a = sockaddr_in{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string err;
  int lfd = open_listener(reinterpret_cast<sockaddr*>(&a), sizeof a, SOCK_STREAM, 16, err);
  if (lfd < 0) return -1;
  socklen_t al = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &al);
  return lfd;
}

// The accepted end of a connection in progress to lfd (bounded: 200 ms).
int accept_peer(int lfd) {
  int sfd = -1;
  for (int i = 0; i < 200 && sfd < 0; ++i) {
    sfd = ::accept(lfd, nullptr, nullptr);
    if (sfd < 0) ::usleep(1000);
  }
  return sfd;
}

// A connected loopback pair outside any loop: *cfd (non-blocking, ours) and
// the accepted *sfd. False if either end is missing.
bool connected_pair(int lfd, const sockaddr_in& a, int* cfd, int* sfd) {
  std::string err;
  *cfd = open_socket(AF_INET, SOCK_STREAM, err);
  if (*cfd < 0) return false;
  int rc = ::connect(*cfd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno != EINPROGRESS) return false;
  *sfd = accept_peer(lfd);
  return *sfd >= 0;
}

}  // namespace

TEST_CASE("loop: multishot recv delivers data then EOF, on both backends") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    Collector c;
    c.loop = loop.get();
    Op op(&c, 0);
    loop->recv(op, sv[0]);
    std::string big(20000, 'x');  // more than a buffer: several completions
    REQUIRE(::write(sv[1], big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    spin(*loop);
    CHECK(c.data == big);
    CHECK(op.armed());
    ::shutdown(sv[1], SHUT_WR);
    spin(*loop);
    CHECK_FALSE(op.armed());
    CHECK(c.last_res == 0);
    CHECK(loop->pool().available() == loop->pool().count() - loop->pool().ring_count());
    loop->close(sv[0]);
    ::close(sv[1]);
  }
}

TEST_CASE("loop: cancel ends an armed recv with exactly one final completion") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    Collector c;
    c.loop = loop.get();
    Op op(&c, 0);
    loop->recv(op, sv[0]);
    spin(*loop, 2);
    loop->cancel(op);
    spin(*loop, 5);
    CHECK_FALSE(op.armed());
    CHECK(c.finals == 1);
    CHECK(c.last_res == -ECANCELED);
    loop->close(sv[0]);
    ::close(sv[1]);
  }
}

TEST_CASE("loop: multishot accept, connect and send") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    sockaddr_in a{};
    int lfd = loopback_listener(a);
    REQUIRE(lfd >= 0);
    std::string err;
    Collector acc, con, snd;
    acc.loop = con.loop = snd.loop = loop.get();
    Op accept_op(&acc, 0), connect_op(&con, 0), send_op(&snd, 0);
    loop->accept(accept_op, lfd);
    int cfd = open_socket(AF_INET, SOCK_STREAM, err);
    loop->connect(connect_op, cfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    spin(*loop);
    CHECK(con.last_res == 0);
    REQUIRE(acc.accepted >= 0);
    CHECK(accept_op.armed());  // multishot stays armed
    loop->send(send_op, cfd, "ping", 4);
    spin(*loop);
    CHECK(snd.last_res == 4);
    char buf[8] = {};
    CHECK(::recv(acc.accepted, buf, sizeof buf, 0) == 4);
    loop->cancel(accept_op);
    spin(*loop);
    CHECK_FALSE(accept_op.armed());
    ::close(acc.accepted);
    loop->close(cfd);
    loop->close(lfd);
  }
}

TEST_CASE("loop: a connect whose peer already answered and closed completes, then data and EOF") {
  // The connect's wake-up carries EPOLLOUT together with EPOLLIN and EPOLLRDHUP
  // (the peer's byte and FIN came before the loop looked): still a success.
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    sockaddr_in a{};
    int lfd = loopback_listener(a);
    REQUIRE(lfd >= 0);
    std::string err;
    int cfd = open_socket(AF_INET, SOCK_STREAM, err);
    Collector con, rd;
    con.loop = rd.loop = loop.get();
    Op connect_op(&con, 0), recv_op(&rd, 0);
    loop->connect(connect_op, cfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    // epoll connects at once (EINPROGRESS, then registers the socket); io_uring
    // issues the SQE on its next turn, whose completion may come before or
    // after the peer's byte: both must end the same way.
    if (be == Backend::kIoUring) loop->run_once(0);
    int sfd = accept_peer(lfd);
    REQUIRE(sfd >= 0);
    REQUIRE(::send(sfd, "x", 1, 0) == 1);
    ::close(sfd);
    ::usleep(2000);
    spin(*loop);
    CHECK(con.finals == 1);
    CHECK(con.last_res == 0);
    loop->recv(recv_op, cfd);
    spin(*loop);
    CHECK(rd.data == "x");
    CHECK_FALSE(recv_op.armed());
    CHECK(rd.last_res == 0);
    loop->close(cfd);
    loop->close(lfd);
  }
}

TEST_CASE("loop: data that came with the peer's FIN is delivered whole, then EOF, whatever its size") {
  // epoll completes the EOF without a recv() when a short read follows the
  // FIN's wake-up: a read that fills the buffer exactly must still read on,
  // and so must one that came before the FIN did.
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    for (size_t size : {size_t{1}, size_t{4095}, size_t{4096}, size_t{8192}, size_t{10000}}) {
      for (bool fin_later : {false, true}) {
        auto loop = make(be);
        if (!loop) continue;
        CAPTURE(loop->name());
        CAPTURE(size);
        CAPTURE(fin_later);
        sockaddr_in a{};
        int lfd = loopback_listener(a);
        REQUIRE(lfd >= 0);
        int cfd = -1, sfd = -1;
        REQUIRE(connected_pair(lfd, a, &cfd, &sfd));
        std::string payload(size, 'p');
        for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
        REQUIRE(::send(sfd, payload.data(), payload.size(), 0) == static_cast<ssize_t>(size));
        if (!fin_later) ::shutdown(sfd, SHUT_WR);
        Collector rd;
        rd.loop = loop.get();
        Op recv_op(&rd, 0);
        loop->recv(recv_op, cfd);
        spin(*loop, 5);
        if (fin_later) {
          CHECK(recv_op.armed());
          CHECK(rd.data == payload);
          ::shutdown(sfd, SHUT_WR);
          spin(*loop, 5);
        }
        CHECK(rd.data == payload);
        CHECK_FALSE(recv_op.armed());
        CHECK(rd.last_res == 0);
        CHECK(rd.finals == 1);
        // The socket stays at EOF for a new read, and the other direction works.
        Op again(&rd, 1);
        loop->recv(again, cfd);
        spin(*loop, 3);
        CHECK_FALSE(again.armed());
        CHECK(rd.last_res == 0);
        CHECK(::send(cfd, "z", 1, MSG_NOSIGNAL) == 1);
        char z = 0;
        CHECK(::recv(sfd, &z, 1, 0) == 1);
        CHECK(z == 'z');
        ::close(sfd);
        loop->close(cfd);
        loop->close(lfd);
      }
    }
  }
}

TEST_CASE("loop: a send that finds the socket full completes once the peer reads, on a socket first armed by a reader") {
  // epoll registers a socket without EPOLLOUT until a writer has to wait:
  // the wait must still end when room comes back.
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    sockaddr_in a{};
    int lfd = loopback_listener(a);
    REQUIRE(lfd >= 0);
    int cfd = -1, sfd = -1;
    REQUIRE(connected_pair(lfd, a, &cfd, &sfd));
    int small = 4096;
    ::setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    Collector rd, wr;
    rd.loop = wr.loop = loop.get();
    Op recv_op(&rd, 0), send_op(&wr, 1);
    loop->recv(recv_op, cfd);  // registers the socket as a reader's
    spin(*loop, 2);
    std::string chunk(256 * 1024, 'w');
    size_t sent = 0;
    bool waiting = false;
    for (int i = 0; i < 64 && !waiting; ++i) {  // fill the socket until a send has to wait
      loop->send(send_op, cfd, chunk.data(), chunk.size());
      spin(*loop, 3);
      if (send_op.armed()) {
        waiting = true;
      } else {
        REQUIRE(wr.last_res > 0);
        sent += static_cast<size_t>(wr.last_res);
      }
    }
    REQUIRE(waiting);
    size_t got = 0;
    char buf[65536];
    for (int i = 0; i < 2000 && send_op.armed(); ++i) {  // the peer reads: room comes back
      ssize_t n = ::recv(sfd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got += static_cast<size_t>(n);
      loop->run_once(kNsPerMs);
    }
    CHECK_FALSE(send_op.armed());
    CHECK(wr.last_res > 0);
    CHECK(got > 0);
    loop->cancel(recv_op);
    spin(*loop, 3);
    ::close(sfd);
    loop->close(cfd);
    loop->close(lfd);
  }
}

TEST_CASE("loop: connect to a closed port completes with ECONNREFUSED") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    // Bind a port, close it: nothing listens there now.
    int tmp = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(tmp, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t al = sizeof a;
    ::getsockname(tmp, reinterpret_cast<sockaddr*>(&a), &al);
    ::close(tmp);
    std::string err;
    int fd = open_socket(AF_INET, SOCK_STREAM, err);
    Collector c;
    c.loop = loop.get();
    Op op(&c, 0);
    loop->connect(op, fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    spin(*loop);
    CHECK(c.last_res == -ECONNREFUSED);
    loop->close(fd);
  }
}

TEST_CASE("loop: running out of pool buffers is back-pressure, not an error") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    int sz = 1 << 20;
    ::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    // A consumer that keeps every buffer it gets: the pool runs dry.
    struct Hoarder final : OpHandler {
      std::vector<Buffer*> held;
      size_t bytes = 0;
      int finals = 0;
      void on_complete(Op& op, int res) override {
        if (res > 0) { held.push_back(op.take_buffer()); bytes += static_cast<size_t>(res); }
        if (!op.more()) ++finals;
      }
    } h;
    Op op(&h, 0);
    loop->recv(op, sv[0]);
    // Twice what the whole pool holds: the pool runs dry with data still
    // waiting in the socket, so taking buffers back must resume the reads.
    std::string chunk(2 * 64 * 4096, 'y');
    ssize_t w = ::write(sv[1], chunk.data(), chunk.size());
    REQUIRE(w > static_cast<ssize_t>(64 * 4096));
    spin(*loop);
    CHECK(h.finals == 0);  // still armed, just starved
    CHECK(op.armed());
    size_t before = h.bytes;
    for (Buffer* b : h.held) loop->pool().release(b);
    h.held.clear();
    spin(*loop);
    CHECK(h.bytes > before);  // resumed once buffers came back
    for (Buffer* b : h.held) loop->pool().release(b);
    h.held.clear();
    loop->cancel(op);
    spin(*loop);
    for (Buffer* b : h.held) loop->pool().release(b);
    CHECK_FALSE(op.armed());
    loop->close(sv[0]);
    ::close(sv[1]);
  }
}

TEST_CASE("loop: io_uring min-wait batching still delivers a lone completion and fires timers") {
  std::string why;
  if (!probe_io_uring(why)) return;
  LoopOptions o;
  o.buffers = 64;
  o.buffer_size = 4096;
  o.ring_entries = 64;
  o.batch_wait_us = 2000;  // far more than one completion will ever get
  o.batch_wait_events = 16;
  auto loop = make_loop(Backend::kIoUring, o, why);
  REQUIRE(loop);
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  Collector c;
  c.loop = loop.get();
  Op op(&c, 0);
  loop->recv(op, sv[0]);
  REQUIRE(::write(sv[1], "ping", 4) == 4);
  // One completion, fewer than the batch: it still arrives, after at most the min wait.
  for (int i = 0; i < 50 && c.data.empty(); ++i) loop->run_once(100 * kNsPerMs);
  CHECK(c.data == "ping");
  struct Fired final : TimerHandler {
    int n = 0;
    void on_timer(Timer&) override { ++n; }
  } fired;
  Timer t(&fired, 0);
  loop->timers().arm(t, loop->now() + 3 * kNsPerMs);
  for (int i = 0; i < 50 && fired.n == 0; ++i) loop->run_once(100 * kNsPerMs);
  CHECK(fired.n == 1);
  loop->cancel(op);
  spin(*loop, 5);
  CHECK_FALSE(op.armed());
  loop->close(sv[0]);
  ::close(sv[1]);
}

TEST_CASE("loop: posted work runs after the turn's completions, once, and a re-post runs next turn") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    // Each recv completion posts the flush; the flush sees every byte that
    // the turn delivered, however many completions that took.
    struct Flusher final : OpHandler, Deferred {
      Loop* loop = nullptr;
      std::string pending;
      std::vector<size_t> flushes;  // bytes pending at each run
      int repost = 0;
      void on_complete(Op& op, int res) override {
        if (res > 0) {
          Buffer* b = op.take_buffer();
          pending.append(reinterpret_cast<char*>(b->data), b->len);
          loop->pool().release(b);
          loop->post(*this);
          loop->post(*this);  // posting twice runs once
        }
      }
      void run_deferred() override {
        flushes.push_back(pending.size());
        pending.clear();
        if (repost > 0) {
          --repost;
          loop->post(*this);
        }
      }
    } f;
    f.loop = loop.get();
    Op op(&f, 0);
    loop->recv(op, sv[0]);
    std::string big(3 * 4096, 'x');  // three buffers' worth, all ready at once
    REQUIRE(::write(sv[1], big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    for (int i = 0; i < 50 && f.flushes.empty(); ++i) loop->run_once(5 * kNsPerMs);
    REQUIRE(f.flushes.size() == 1);
    CHECK(f.flushes[0] == big.size());
    CHECK_FALSE(f.posted());

    // A re-post from run_deferred runs on the next turn, and that turn does
    // not sleep for its wait budget: nothing else is due for a second.
    f.repost = 1;
    REQUIRE(::write(sv[1], "y", 1) == 1);
    for (int i = 0; i < 50 && f.flushes.size() < 2; ++i) loop->run_once(5 * kNsPerMs);
    REQUIRE(f.flushes.size() == 2);
    CHECK(f.posted());
    TimeNs t0 = monotonic_now();
    loop->run_once(1000 * kNsPerMs);
    CHECK(monotonic_now() - t0 < 500 * kNsPerMs);
    CHECK(f.flushes.size() == 3);
    CHECK(f.flushes[2] == 0);
    CHECK_FALSE(f.posted());

    loop->cancel(op);
    run_until_done(*loop, op);
    CHECK_FALSE(op.armed());
    ::close(sv[0]);
    ::close(sv[1]);
  }
}

TEST_CASE("loop: splice moves socket -> pipe -> socket, waits on the socket, and cancels cleanly") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    int in[2], out[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, in) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, out) == 0);
    Pipe p = loop->pipes().acquire(64 * 1024);
    REQUIRE(p);
    Collector c;
    c.loop = loop.get();
    Op op(&c, 0);

    // In: nothing to read yet, so it waits (no busy EAGAIN result) ...
    loop->splice(op, in[0], p.w, p.cap, true);
    spin(*loop, 3);
    CHECK(op.armed());
    CHECK(c.finals == 0);
    // ... and moves what arrives.
    REQUIRE(::write(in[1], "hello splice", 12) == 12);
    run_until_done(*loop, op);
    REQUIRE(c.finals == 1);
    CHECK(c.last_res == 12);

    // Out: into a socket with room, at once.
    loop->splice(op, out[0], p.r, 12, false);
    run_until_done(*loop, op);
    REQUIRE(c.finals == 2);
    CHECK(c.last_res == 12);
    char buf[64];
    CHECK(::read(out[1], buf, sizeof buf) == 12);
    CHECK(std::string(buf, 12) == "hello splice");

    // Out into a full socket waits until the reader makes room.
    std::string fill(4096, 'f');
    while (::write(out[0], fill.data(), fill.size()) > 0) {
    }
    REQUIRE(::write(in[1], "more", 4) == 4);
    loop->splice(op, in[0], p.w, p.cap, true);
    run_until_done(*loop, op);
    REQUIRE(c.finals == 3);
    CHECK(c.last_res == 4);
    loop->splice(op, out[0], p.r, 4, false);
    spin(*loop, 3);
    CHECK(op.armed());
    CHECK(c.finals == 3);
    std::string drained;
    for (ssize_t n; (n = ::read(out[1], buf, sizeof buf)) > 0;) drained.append(buf, static_cast<size_t>(n));
    run_until_done(*loop, op);
    REQUIRE(c.finals == 4);
    CHECK(c.last_res == 4);
    for (ssize_t n; (n = ::read(out[1], buf, sizeof buf)) > 0;) drained.append(buf, static_cast<size_t>(n));
    CHECK(drained.size() >= 4);
    CHECK(drained.substr(drained.size() - 4) == "more");

    // A waiting splice cancels with exactly one final completion.
    loop->splice(op, in[0], p.w, p.cap, true);
    spin(*loop, 2);
    loop->cancel(op);
    run_until_done(*loop, op);
    CHECK_FALSE(op.armed());
    CHECK(c.finals == 5);
    CHECK(c.last_res == -ECANCELED);

    // EOF of the socket: 0.
    ::shutdown(in[1], SHUT_WR);
    loop->splice(op, in[0], p.w, p.cap, true);
    run_until_done(*loop, op);
    CHECK(c.finals == 6);
    CHECK(c.last_res == 0);

    // An empty pipe goes back to the pool and is handed out again; one that
    // may hold bytes is closed instead.
    loop->pipes().release(p, true);
    CHECK(loop->pipes().idle() == 1);
    Pipe again = loop->pipes().acquire(64 * 1024);
    CHECK(again.r == p.r);
    CHECK(loop->pipes().idle() == 0);
    loop->pipes().release(again, false);
    CHECK(loop->pipes().idle() == 0);
    CHECK(::fcntl(p.r, F_GETFD) == -1);
    for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
  }
}

TEST_CASE("pipe pool: keeps at most kMaxIdle pipes, matches sizes") {
  PipePool pool;
  std::vector<Pipe> ps;
  for (size_t i = 0; i < PipePool::kMaxIdle + 3; ++i) {
    ps.push_back(pool.acquire(64 * 1024));
    REQUIRE(ps.back());
  }
  CHECK(pool.created() == PipePool::kMaxIdle + 3);
  for (const Pipe& p : ps) pool.release(p, true);
  CHECK(pool.idle() == PipePool::kMaxIdle);
  Pipe big = pool.acquire(256 * 1024);  // no idle pipe of that size: a new one
  REQUIRE(big);
  CHECK(pool.created() == PipePool::kMaxIdle + 4);
  CHECK(::fcntl(big.w, F_GETPIPE_SZ) >= 256 * 1024);
  pool.release(big, true);
  CHECK(pool.idle() == PipePool::kMaxIdle);  // full: closed
}
