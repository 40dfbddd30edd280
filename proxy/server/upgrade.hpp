#pragma once
// Binary upgrade (SIGUSR2), both sides of the hand-over; main thread only.
//
// The running (old) process starts the executable that /proc/self/exe names
// now (a binary replaced on disk is picked up), with its own argv and
// environment, and hands it every listening socket by descriptor
// inheritance: the descriptors stay open across exec and
// PORTICO_INHERITED_FDS names them ("fd:kind:address;...", kind = stream |
// dgram | admin). The new process takes the sockets its config binds, closes
// the rest, and reports on the pipe named by PORTICO_UPGRADE_FD: "ready PID"
// once its workers serve, or "failed REASON". See docs/architecture.md.

#include <sys/types.h>

#include <string>
#include <vector>

namespace portico::server {

inline constexpr const char* kInheritedFdsEnv = "PORTICO_INHERITED_FDS";
inline constexpr const char* kUpgradeFdEnv = "PORTICO_UPGRADE_FD";

// One socket the old process hands over.
struct HandoverSocket {
  int fd;
  const char* kind;     // "stream", "dgram" or "admin"
  std::string address;  // conf::Address::str() of what it is bound to
};

// New side: the sockets inherited from the process that started this one.
class InheritedSockets {
 public:
  // Reads PORTICO_INHERITED_FDS, checks each descriptor (a socket of that
  // type, listening if a stream, bound to that address), closes and logs the
  // ones that are not, and removes the variable from the environment.
  static InheritedSockets from_environment();
  // The sockets of `kind` bound to `address`, in the old process's order
  // (worker 0 first); they leave the set.
  std::vector<int> take(const char* kind, const std::string& address);
  // Closes every socket the config did not take (listeners it dropped).
  void close_rest();
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int fd;
    std::string kind;
    std::string address;
  };
  std::vector<Entry> entries_;
};

// New side: reads PORTICO_UPGRADE_FD (call first thing in main). After it,
// report_ready / report_failure tell the old process (no-ops otherwise).
void read_upgrade_environment();
bool started_by_upgrade();
void report_ready();
void report_failure(const std::string& why);
// systemd's notify protocol, if NOTIFY_SOCKET is set: READY=1, plus
// MAINPID=<this pid> when this process replaced another (Type=notify with
// NotifyAccess=all then follows the upgrade).
void notify_systemd_ready();

// Old side: one upgrade attempt.
class UpgradeAttempt {
 public:
  enum class State { kPending, kReady, kFailed };
  UpgradeAttempt() = default;
  UpgradeAttempt(const UpgradeAttempt&) = delete;
  UpgradeAttempt& operator=(const UpgradeAttempt&) = delete;
  ~UpgradeAttempt();

  // Starts the new process. False (with `err`) if it could not be started.
  bool start(const std::vector<std::string>& argv, const std::vector<HandoverSocket>& socks, std::string& err);
  // Non-blocking: what the new process said so far. kFailed comes with the
  // reason; the process is then killed if it still runs (reap it with reap()).
  State poll(std::string& why);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int pipe_ = -1;  // read end
  std::string said_;
  bool eof_ = false;
  long long deadline_ms_ = 0;
};

// Collects exited children without blocking; returns how many are still running.
size_t reap_children(std::vector<pid_t>& pids);

}  // namespace portico::server
