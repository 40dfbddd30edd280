#pragma once
// A FIFO of bytes in one contiguous heap block that is freed whenever the
// queue empties, so an idle connection holds no buffer. Used by TlsConn for
// ciphertext in both directions. Single-threaded (the connection's worker).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

namespace portico::tls {

// Blocks of ByteQueue::kMinBlock bytes, cached per thread (a worker is one
// thread): a queue that empties and fills again once per request on a
// keep-alive connection then costs no malloc and free. At most
// kCachedBlocks are kept per thread; other sizes go to malloc.
namespace block_cache {
inline constexpr size_t kCachedBlocks = 64;
void* take(size_t size);            // nullptr when out of memory
void give(void* p, size_t size);    // p from take(size), or nullptr
}  // namespace block_cache

class ByteQueue {
 public:
  ByteQueue() = default;
  ~ByteQueue() { block_cache::give(buf_, cap_); }
  ByteQueue(const ByteQueue&) = delete;
  ByteQueue& operator=(const ByteQueue&) = delete;

  size_t size() const { return tail_ - head_; }
  bool empty() const { return head_ == tail_; }
  size_t capacity() const { return cap_; }
  std::span<const uint8_t> front() const { return {buf_ + head_, tail_ - head_}; }

  // Appends up to n bytes, never growing past `limit` bytes held; returns the
  // number appended (0 if full or out of memory).
  size_t append(const uint8_t* p, size_t n, size_t limit) {
    if (size() >= limit) return 0;
    if (n > limit - size()) n = limit - size();
    if (n == 0 || !reserve(n, limit)) return 0;
    std::memcpy(buf_ + tail_, p, n);
    tail_ += n;
    return n;
  }
  // Copies out up to n bytes and drops them.
  size_t take(uint8_t* dst, size_t n) {
    if (n > size()) n = size();
    std::memcpy(dst, buf_ + head_, n);
    consume(n);
    return n;
  }
  void consume(size_t n) {
    head_ += n < size() ? n : size();
    if (head_ == tail_) clear();
  }
  void clear() {
    block_cache::give(buf_, cap_);
    buf_ = nullptr;
    cap_ = head_ = tail_ = 0;
  }

 public:
  static constexpr size_t kMinBlock = 4096;

 private:
  bool reserve(size_t n, size_t limit) {
    if (tail_ + n <= cap_) return true;
    size_t used = size();
    if (used + n <= cap_) {  // room if the live bytes move to the front
      std::memmove(buf_, buf_ + head_, used);
      head_ = 0;
      tail_ = used;
      return true;
    }
    size_t want = cap_ ? cap_ * 2 : kMinBlock;
    if (want < used + n) want = used + n;
    if (want > limit && limit >= used + n) want = limit;
    auto* nb = static_cast<uint8_t*>(block_cache::take(want));
    if (!nb) return false;
    if (used) std::memcpy(nb, buf_ + head_, used);
    block_cache::give(buf_, cap_);
    buf_ = nb;
    cap_ = want;
    head_ = 0;
    tail_ = used;
    return true;
  }

  uint8_t* buf_ = nullptr;
  size_t cap_ = 0;
  size_t head_ = 0;
  size_t tail_ = 0;
};

}  // namespace portico::tls
