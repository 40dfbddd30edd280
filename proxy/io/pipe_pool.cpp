#include "proxy/io/pipe_pool.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace portico::io {

namespace {
void close_pipe(const Pipe& p) {
  ::close(p.r);
  ::close(p.w);
}
}  // namespace

PipePool::~PipePool() {
  for (const Pipe& p : idle_) close_pipe(p);
}

Pipe PipePool::acquire(uint32_t cap) {
  for (size_t i = idle_.size(); i-- > 0;) {
    if (idle_[i].cap != cap) continue;
    Pipe p = idle_[i];
    idle_[i] = idle_.back();
    idle_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return {};
  Pipe p{fds[0], fds[1], cap};
  if (::fcntl(p.w, F_SETPIPE_SZ, static_cast<int>(cap)) < 0) {
    close_pipe(p);
    return {};
  }
  ++created_;
  return p;
}

void PipePool::release(Pipe p, bool empty) {
  if (!p) return;
  if (!empty || idle_.size() >= kMaxIdle) {
    close_pipe(p);
    return;
  }
  idle_.push_back(p);
}

}  // namespace portico::io
