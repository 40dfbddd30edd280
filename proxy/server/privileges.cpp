#include "proxy/server/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "proxy/base/log.hpp"

namespace portico::server {

void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
      LOG_INFO("open file limit raised from %llu to %llu", static_cast<unsigned long long>(before),
               static_cast<unsigned long long>(rl.rlim_max));
    else
      LOG_WARN("open file limit stays at %llu: %s", static_cast<unsigned long long>(before), std::strerror(errno));
  }
  if (rl.rlim_cur < 4096)
    LOG_WARN("open file limit is %llu; each connection needs one or two descriptors",
             static_cast<unsigned long long>(rl.rlim_cur));
}

bool drop_privileges(const std::optional<std::string>& user, std::string& err) {
  if (!user) {
    if (::geteuid() == 0) LOG_WARN("running as root without `user:`; set user: to drop privileges after binding");
    return true;
  }
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(user->c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    err = "user: unknown user '" + *user + "'";
    return false;
  }
  if (::geteuid() != 0) {
    if (pw.pw_uid == ::geteuid()) return true;  // already that user
    err = "user: switching to '" + *user + "' needs root (running as uid " + std::to_string(::geteuid()) + ")";
    return false;
  }
  if (::initgroups(pw.pw_name, pw.pw_gid) != 0) {
    err = std::string("user: initgroups: ") + std::strerror(errno);
    return false;
  }
  if (::setgid(pw.pw_gid) != 0) {
    err = std::string("user: setgid: ") + std::strerror(errno);
    return false;
  }
  // From root to a non-root uid the kernel clears every capability set
  // (PR_SET_KEEPCAPS is off); setresuid covers real, effective and saved ids.
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (::setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) != 0) {
    err = std::string("user: setuid: ") + std::strerror(errno);
    return false;
  }
  if (pw.pw_uid != 0 && ::setuid(0) == 0) {
    err = "user: could regain root after the switch";
    return false;
  }
  // Workers may still open files (access log, static roots): no new privileges by exec either.
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  LOG_INFO("privileges dropped user=%s uid=%u gid=%u", user->c_str(), static_cast<unsigned>(pw.pw_uid),
           static_cast<unsigned>(pw.pw_gid));
  return true;
}

}  // namespace portico::server
