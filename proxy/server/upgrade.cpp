#include "proxy/server/upgrade.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "conf/types.hpp"
#include "proxy/base/log.hpp"

extern char** environ;

namespace portico::server {

namespace {

// How long the new process may take to say it is ready before the old one
// gives up on it (kills it and keeps serving).
constexpr long long kReadyTimeoutMs = 30 * 1000;
constexpr size_t kMaxMessage = 4096;

int g_upgrade_fd = -1;      // the pipe to the old process (new side), until reported
bool g_upgraded = false;    // this process was started by an upgrade

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool parse_fd(std::string_view s, int& fd) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), fd);
  return ec == std::errc() && p == s.data() + s.size() && fd > 2;
}

// "" if fd is a socket of `kind` bound to `address`, else why not.
std::string check_socket(int fd, const std::string& kind, const std::string& address) {
  int want;
  if (kind == "dgram") want = SOCK_DGRAM;
  else if (kind == "stream" || kind == "admin") want = SOCK_STREAM;
  else return "unknown kind '" + kind + "'";
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return std::string("not a socket: ") + std::strerror(errno);
  if (type != want) return "socket type " + std::to_string(type) + ", expected " + std::to_string(want);
  if (want == SOCK_STREAM) {
    int listening = 0;
    len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) return "not listening";
  }
  conf::Address a;
  a.len = sizeof a.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len) < 0)
    return std::string("getsockname: ") + std::strerror(errno);
  if (a.str() != address) return "bound to " + a.str();
  return {};
}

// The path of the executable as it is named now: after a replacement on disk
// the link reads "PATH (deleted)", and PATH is the new binary.
std::string self_exe(std::string& err) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) {
    err = std::string("readlink /proc/self/exe: ") + std::strerror(errno);
    return {};
  }
  std::string path(buf, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  if (::access(path.c_str(), X_OK) != 0) {
    err = path + ": " + std::strerror(errno);
    return {};
  }
  return path;
}

std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("killed by signal ") + strsignal(WTERMSIG(st));
  return "stopped";
}

void say(const std::string& msg) {
  if (g_upgrade_fd < 0) return;
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t n = ::write(g_upgrade_fd, msg.data() + off, msg.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the old process is gone: nobody to tell
    off += static_cast<size_t>(n);
  }
  ::close(g_upgrade_fd);
  g_upgrade_fd = -1;
}

}  // namespace

// ------------------------------------------------------------ new side

InheritedSockets InheritedSockets::from_environment() {
  InheritedSockets out;
  const char* v = std::getenv(kInheritedFdsEnv);
  if (!v) return out;
  const std::string spec(v);
  ::unsetenv(kInheritedFdsEnv);  // main thread, before any worker exists
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t end = spec.find(';', pos);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const size_t c1 = item.find(':');
    const size_t c2 = c1 == std::string::npos ? c1 : item.find(':', c1 + 1);
    int fd = -1;
    if (c2 == std::string::npos || !parse_fd(std::string_view(item).substr(0, c1), fd)) {
      LOG_WARN("upgrade: %s entry '%s' ignored: expected fd:kind:address", kInheritedFdsEnv, item.c_str());
      continue;
    }
    Entry e{fd, item.substr(c1 + 1, c2 - c1 - 1), item.substr(c2 + 1)};
    std::string why = check_socket(fd, e.kind, e.address);
    for (const Entry& other : out.entries_)
      if (other.fd == fd) why = "listed twice";
    if (!why.empty()) {
      LOG_WARN("upgrade: inherited descriptor %d (%s %s) ignored: %s", fd, e.kind.c_str(), e.address.c_str(),
               why.c_str());
      if (why != "listed twice" && ::fcntl(fd, F_GETFD) >= 0) ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // handed on again only by name, at the next upgrade
    out.entries_.push_back(std::move(e));
  }
  if (!out.entries_.empty()) LOG_INFO("upgrade: %zu sockets inherited", out.entries_.size());
  return out;
}

std::vector<int> InheritedSockets::take(const char* kind, const std::string& address) {
  std::vector<int> fds;
  std::erase_if(entries_, [&](const Entry& e) {
    if (e.kind != kind || e.address != address) return false;
    fds.push_back(e.fd);
    return true;
  });
  return fds;
}

void InheritedSockets::close_rest() {
  for (const Entry& e : entries_) {
    LOG_INFO("upgrade: inherited %s socket %s is not in the configuration: closed", e.kind.c_str(),
             e.address.c_str());
    ::close(e.fd);
  }
  entries_.clear();
}

void read_upgrade_environment() {
  const char* v = std::getenv(kUpgradeFdEnv);
  if (!v) return;
  int fd = -1;
  const bool ok = parse_fd(v, fd) && ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
  ::unsetenv(kUpgradeFdEnv);
  if (!ok) return;
  g_upgrade_fd = fd;
  g_upgraded = true;
  ::signal(SIGPIPE, SIG_IGN);  // an old process that went away must not kill us while we report
}

bool started_by_upgrade() { return g_upgraded; }

void report_ready() { say("ready " + std::to_string(::getpid()) + "\n"); }

void report_failure(const std::string& why) {
  std::string line = why.substr(0, kMaxMessage - 16);
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  say("failed " + line + "\n");
}

void notify_systemd_ready() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const size_t n = std::strlen(path);
  if (n >= sizeof sa.sun_path) return;
  std::memcpy(sa.sun_path, path, n);
  if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
  const std::string msg = g_upgraded ? "MAINPID=" + std::to_string(::getpid()) + "\nREADY=1" : "READY=1";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len) < 0)
    LOG_WARN("NOTIFY_SOCKET %s: %s", path, std::strerror(errno));
  ::close(fd);
}

// ------------------------------------------------------------ old side

UpgradeAttempt::~UpgradeAttempt() {
  if (pipe_ >= 0) ::close(pipe_);
}

bool UpgradeAttempt::start(const std::vector<std::string>& argv, const std::vector<HandoverSocket>& socks,
                           std::string& err) {
  const std::string exe = self_exe(err);
  if (exe.empty()) return false;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) {
    err = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  std::string spec;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (const HandoverSocket& s : socks) {
    if (s.address.find(';') != std::string::npos) {
      LOG_WARN("upgrade: %s has a ';' in its name: the new process binds it anew", s.address.c_str());
      continue;
    }
    spec += std::to_string(s.fd) + ":" + s.kind + ":" + s.address + ";";
    // dup2 onto itself in the child clears close-on-exec there only (glibc >= 2.29).
    posix_spawn_file_actions_adddup2(&fa, s.fd, s.fd);
  }
  posix_spawn_file_actions_adddup2(&fa, p[1], p[1]);
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with(std::string(kInheritedFdsEnv) + "=") || kv.starts_with(std::string(kUpgradeFdEnv) + "="))
      continue;
    env.emplace_back(kv);
  }
  env.push_back(std::string(kInheritedFdsEnv) + "=" + spec);
  env.push_back(std::string(kUpgradeFdEnv) + "=" + std::to_string(p[1]));
  std::vector<char*> envp, args;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  // The child starts with no signal blocked and the signals we take reset.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, reset;
  sigemptyset(&none);
  sigemptyset(&reset);
  for (int s : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&reset, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &reset);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
#ifdef SYS_close_range
  // Belt and braces: whatever descriptor some library opened without
  // close-on-exec does not leak into the new process (this one never execs).
  ::syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
  const int rc = ::posix_spawn(&pid_, exe.c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(p[1]);
  if (rc != 0) {
    ::close(p[0]);
    err = "cannot start " + exe + ": " + std::strerror(rc);
    pid_ = -1;
    return false;
  }
  pipe_ = p[0];
  ::fcntl(pipe_, F_SETFL, O_NONBLOCK);
  deadline_ms_ = now_ms() + kReadyTimeoutMs;
  LOG_INFO("upgrade: started %s as pid=%d with %zu sockets; waiting for it to be ready", exe.c_str(),
           static_cast<int>(pid_), socks.size());
  return true;
}

UpgradeAttempt::State UpgradeAttempt::poll(std::string& why) {
  while (pipe_ >= 0) {
    char buf[512];
    ssize_t n = ::read(pipe_, buf, sizeof buf);
    if (n > 0) {
      said_.append(buf, static_cast<size_t>(std::min<size_t>(static_cast<size_t>(n), kMaxMessage - said_.size())));
      if (said_.size() >= kMaxMessage) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      eof_ = true;
      ::close(pipe_);
      pipe_ = -1;
    }
    break;
  }
  if (size_t nl = said_.find('\n'); nl != std::string::npos || said_.size() >= kMaxMessage) {
    std::string line = said_.substr(0, nl);
    if (line.starts_with("ready ")) return State::kReady;
    if (line.starts_with("failed ")) {  // it exits by itself
      why = line.substr(7);
      return State::kFailed;
    }
    why = "unexpected message '" + line.substr(0, 80) + "'; killed it";
    ::kill(pid_, SIGKILL);
    return State::kFailed;
  }
  if (eof_) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      why = describe_status(st) + " before it was ready";
      return State::kFailed;
    }
    if (r < 0) {
      why = std::string("gone before it was ready (") + std::strerror(errno) + ")";
      return State::kFailed;
    }
  }
  if (now_ms() >= deadline_ms_) {
    why = "not ready within " + std::to_string(kReadyTimeoutMs / 1000) + " s; killed it";
    ::kill(pid_, SIGKILL);
    return State::kFailed;
  }
  return State::kPending;
}

size_t reap_children(std::vector<pid_t>& pids) {
  std::erase_if(pids, [](pid_t p) {
    int st = 0;
    pid_t r = ::waitpid(p, &st, WNOHANG);
    if (r == p) LOG_DEBUG("upgrade: pid=%d %s", static_cast<int>(p), describe_status(st).c_str());
    return r == p || r < 0;
  });
  return pids.size();
}

}  // namespace portico::server
