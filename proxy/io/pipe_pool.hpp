#pragma once
// Pipes for splice(2) relays, per worker. A relay that moves a bulk stream
// splices socket -> pipe -> socket: the kernel hands page references through
// the pipe instead of copying every byte into user space and back. Creating
// a pipe costs three system calls, so empty pipes are kept for the next
// relay, at most kMaxIdle of them; the rest are closed.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace portico::io {

struct Pipe {
  int r = -1;        // read end
  int w = -1;        // write end
  uint32_t cap = 0;  // the size asked for (what acquire() matches)
  explicit operator bool() const { return r >= 0; }
};

class PipePool {
 public:
  static constexpr size_t kMaxIdle = 64;

  PipePool() = default;
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  ~PipePool();

  // An empty pipe that holds at least `cap` bytes: a kept one of that size,
  // or a new one sized with F_SETPIPE_SZ (the kernel rounds up to a power of
  // two pages). An empty Pipe when none can be made: out of fds, or the
  // kernel refuses the size (an unprivileged user over fs.pipe-max-size or
  // the pipe page quota); the caller then copies instead.
  Pipe acquire(uint32_t cap);
  // Hands a pipe back. One that may still hold bytes (`empty` false: a relay
  // cut short) is closed, as are pipes beyond kMaxIdle.
  void release(Pipe p, bool empty);

  size_t idle() const { return idle_.size(); }
  uint64_t created() const { return created_; }

 private:
  std::vector<Pipe> idle_;
  uint64_t created_ = 0;
};

}  // namespace portico::io
