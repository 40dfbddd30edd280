#include "proxy/io/loop.hpp"

#include "proxy/io/epoll_loop.hpp"
#include "proxy/io/uring_loop.hpp"

namespace portico::io {

TimeNs Loop::wait_budget(TimeNs max_wait_ns) const {
  if (posted_head_) return 0;
  TimeNs next = timers_.next_deadline();
  if (next < 0) return max_wait_ns;
  TimeNs until = next > now_ ? next - now_ : 0;
  return max_wait_ns < 0 ? until : std::min(until, max_wait_ns);
}

size_t Loop::run_posted() {
  Deferred* d = posted_head_;
  posted_head_ = posted_tail_ = nullptr;
  size_t n = 0;
  while (d) {
    Deferred* next = d->next_;
    d->next_ = nullptr;
    d->posted_ = false;
    d->run_deferred();  // may post again (onto the new list), or free d
    d = next;
    ++n;
  }
  return n;
}

std::unique_ptr<Loop> make_loop(Backend b, const LoopOptions& o, std::string& why) {
  if (b == Backend::kIoUring) return UringLoop::create(o, why);
  return EpollLoop::create(o, why);
}

}  // namespace portico::io
