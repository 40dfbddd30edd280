// Loop::recvmmsg on both backends: batches of datagrams, the wait for the next
// one, and cancellation.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/io/loop.hpp"

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

// A bound UDP socket on 127.0.0.1 (ephemeral port) and its address.
int udp_socket(sockaddr_in& addr) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd >= 0 && (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

constexpr unsigned kVlen = 3;

// Receives into kVlen slots; records every final completion.
struct Batch final : OpHandler {
  std::vector<std::string> got;
  std::vector<int> results;
  char bufs[kVlen][64];
  iovec iov[kVlen];
  sockaddr_in from[kVlen];
  mmsghdr vec[kVlen];
  void prepare() {
    for (unsigned i = 0; i < kVlen; ++i) {
      iov[i] = {bufs[i], sizeof bufs[i]};
      vec[i] = {};
      vec[i].msg_hdr.msg_iov = &iov[i];
      vec[i].msg_hdr.msg_iovlen = 1;
      vec[i].msg_hdr.msg_name = &from[i];
      vec[i].msg_hdr.msg_namelen = sizeof from[i];
    }
  }
  void on_complete(Op& op, int res) override {
    CHECK_FALSE(op.more());
    results.push_back(res);
    for (int i = 0; i < res; ++i) got.emplace_back(bufs[i], vec[i].msg_len);
  }
};

void spin_until(Loop& l, const std::vector<int>& results, size_t want) {
  for (int i = 0; i < 100 && results.size() < want; ++i) l.run_once(10 * kNsPerMs);
}

void send_to(int fd, const sockaddr_in& to, const std::string& s) {
  REQUIRE(::sendto(fd, s.data(), s.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
          static_cast<ssize_t>(s.size()));
}

}  // namespace

TEST_CASE("loop: recvmmsg delivers up to vlen datagrams per completion, then waits") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    sockaddr_in srv{}, cli{};
    int s = udp_socket(srv), c = udp_socket(cli);
    REQUIRE(s >= 0);
    REQUIRE(c >= 0);
    for (int i = 0; i < 5; ++i) send_to(c, srv, std::string("q").append(std::to_string(i)));

    Batch h;
    Op op(&h, 0);
    h.prepare();
    loop->recvmmsg(op, s, h.vec, kVlen);
    spin_until(*loop, h.results, 1);
    REQUIRE(h.results.size() == 1);
    CHECK(h.results[0] == 3);  // a full batch from one completion
    CHECK(h.from[0].sin_port == cli.sin_port);
    CHECK_FALSE(op.armed());

    h.prepare();
    loop->recvmmsg(op, s, h.vec, kVlen);
    spin_until(*loop, h.results, 2);
    REQUIRE(h.results.size() == 2);
    CHECK(h.results[1] == 2);  // what was left
    CHECK(h.got == std::vector<std::string>{"q0", "q1", "q2", "q3", "q4"});

    // Nothing queued: the op stays armed, then completes for a new datagram.
    h.prepare();
    loop->recvmmsg(op, s, h.vec, kVlen);
    for (int i = 0; i < 3; ++i) loop->run_once(5 * kNsPerMs);
    CHECK(h.results.size() == 2);
    CHECK(op.armed());
    send_to(c, srv, "late");
    spin_until(*loop, h.results, 3);
    REQUIRE(h.results.size() == 3);
    CHECK(h.results[2] == 1);
    CHECK(h.got.back() == "late");

    // A datagram larger than its slot is reported truncated.
    h.prepare();
    loop->recvmmsg(op, s, h.vec, kVlen);
    send_to(c, srv, std::string(100, 'x'));
    spin_until(*loop, h.results, 4);
    REQUIRE(h.results.size() == 4);
    CHECK(h.results[3] == 1);
    CHECK((h.vec[0].msg_hdr.msg_flags & MSG_TRUNC) != 0);

    loop->close(s);
    loop->close(c);
  }
}

TEST_CASE("loop: cancel ends an armed recvmmsg with exactly one final completion") {
  for (Backend be : {Backend::kIoUring, Backend::kEpoll}) {
    auto loop = make(be);
    if (!loop) continue;
    CAPTURE(loop->name());
    sockaddr_in srv{};
    int s = udp_socket(srv);
    REQUIRE(s >= 0);
    Batch h;
    Op op(&h, 0);
    h.prepare();
    loop->recvmmsg(op, s, h.vec, kVlen);
    loop->run_once(0);
    CHECK(op.armed());
    loop->cancel(op);
    spin_until(*loop, h.results, 1);
    for (int i = 0; i < 3; ++i) loop->run_once(2 * kNsPerMs);
    REQUIRE(h.results.size() == 1);
    CHECK(h.results[0] == -ECANCELED);
    CHECK_FALSE(op.armed());
    loop->close(s);
  }
}
