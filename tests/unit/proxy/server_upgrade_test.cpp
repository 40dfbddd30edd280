#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "conf/types.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/server/upgrade.hpp"

using namespace portico;

namespace {

// A listening socket on 127.0.0.1, port chosen by the kernel; its address as portico prints it.
int listener(int type, std::string& address) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string err;
  int fd = io::open_listener(reinterpret_cast<sockaddr*>(&sin), sizeof sin, type, 16, err);
  REQUIRE(fd >= 0);
  conf::Address a;
  a.len = sizeof a.storage;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len) == 0);
  address = a.str();
  return fd;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

}  // namespace

TEST_CASE("inherited sockets are checked, taken by kind and address in order, and the rest closed") {
  std::string a1, a2, a3;
  int s1 = listener(SOCK_STREAM, a1);
  int s2 = ::dup(s1);  // a second socket of the same listener (another worker's)
  int d1 = listener(SOCK_DGRAM, a2);
  int wrong = listener(SOCK_STREAM, a3);  // listed under another address: refused
  int unused = listener(SOCK_STREAM, a3);
  const std::string spec = std::to_string(s1) + ":stream:" + a1 + ";" + std::to_string(s2) + ":stream:" + a1 + ";" +
                           std::to_string(d1) + ":dgram:" + a2 + ";" + std::to_string(wrong) + ":stream:" + a2 +
                           ";" + std::to_string(d1) + ":stream:" + a2 + ";" + "junk;" + std::to_string(unused) +
                           ":admin:" + a3 + ";";
  ::setenv(server::kInheritedFdsEnv, spec.c_str(), 1);
  server::InheritedSockets in = server::InheritedSockets::from_environment();
  CHECK(std::getenv(server::kInheritedFdsEnv) == nullptr);
  CHECK(in.size() == 4);
  CHECK_FALSE(is_open(wrong));  // bound elsewhere than listed: closed
  CHECK(is_open(d1));           // listed twice: the first entry counts, the descriptor stays
  CHECK(in.take("dgram", a1).empty());
  auto streams = in.take("stream", a1);
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] == s1);
  CHECK(streams[1] == s2);
  CHECK(in.take("stream", a1).empty());  // taken once
  CHECK(in.take("dgram", a2) == std::vector<int>{d1});
  CHECK((::fcntl(s1, F_GETFD) & FD_CLOEXEC) != 0);  // not leaked to the next exec by accident
  in.close_rest();
  CHECK(in.size() == 0);
  CHECK_FALSE(is_open(unused));
  for (int fd : {s1, s2, d1}) ::close(fd);
}

TEST_CASE("without the variable nothing is inherited") {
  ::unsetenv(server::kInheritedFdsEnv);
  CHECK(server::InheritedSockets::from_environment().size() == 0);
}

TEST_CASE("a new process reports its failure once, on the pipe it was given") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  ::setenv(server::kUpgradeFdEnv, std::to_string(p[1]).c_str(), 1);
  server::read_upgrade_environment();
  CHECK(std::getenv(server::kUpgradeFdEnv) == nullptr);
  CHECK(server::started_by_upgrade());
  server::report_failure("conf.yaml:3:1: unknown key 'x'\nsecond line");
  server::report_ready();  // the pipe is closed after the first report: nothing more
  char buf[256] = {};
  ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<size_t>(n)) == "failed conf.yaml:3:1: unknown key 'x' second line\n");
  CHECK(::read(p[0], buf, sizeof buf) == 0);  // write end closed by the report
  ::close(p[0]);
}
