#include "proxy/io/loop.hpp"

#include "proxy/io/epoll_loop.hpp"
#include "proxy/io/uring_loop.hpp"

namespace portico::io {

TimeNs Loop::wait_budget(TimeNs max_wait_ns) const {
  TimeNs next = timers_.next_deadline();
  if (next < 0) return max_wait_ns;
  TimeNs until = next > now_ ? next - now_ : 0;
  return max_wait_ns < 0 ? until : std::min(until, max_wait_ns);
}

std::unique_ptr<Loop> make_loop(Backend b, const LoopOptions& o, std::string& why) {
  if (b == Backend::kIoUring) return UringLoop::create(o, why);
  return EpollLoop::create(o, why);
}

}  // namespace portico::io
