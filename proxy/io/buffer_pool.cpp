#include "proxy/io/buffer_pool.hpp"

#include <sys/mman.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace portico::io {

BufferPool::BufferPool(uint32_t count, uint32_t size) : count_(count), size_(size) {
  size_t bytes = static_cast<size_t>(count) * size;
  // Anonymous mapping: pages are only backed once touched.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();  // start-up only
  memory_ = static_cast<uint8_t*>(p);
  buffers_.resize(count);
  free_.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    buffers_[i].data = memory_ + static_cast<size_t>(i) * size;
    buffers_[i].id = i;
  }
  for (uint32_t i = count; i-- > 0;) free_.push_back(&buffers_[i]);
}

BufferPool::~BufferPool() { ::munmap(memory_, static_cast<size_t>(count_) * size_); }

void BufferPool::reserve_for_ring(uint32_t n) {
  if (n > count_) n = count_;
  ring_count_ = n;
  free_.clear();
  for (uint32_t i = count_; i-- > n;) free_.push_back(&buffers_[i]);
}

Buffer* BufferPool::acquire() {
  if (free_.empty()) return nullptr;
  Buffer* b = free_.back();
  free_.pop_back();
  b->len = b->off = 0;
  b->next = nullptr;
  return b;
}

Buffer* BufferPool::acquire_any() {
  if (Buffer* b = acquire()) return b;
  auto* b = new Buffer;
  b->data = new uint8_t[size_];
  b->id = kHeapId;
  ++heap_buffers_;
  return b;
}

void append(BufferPool& pool, BufferQueue& q, const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    Buffer* b = q.back();
    if (!b || b->len == pool.size()) {
      b = pool.acquire_any();
      q.push(b);
    }
    size_t n = std::min<size_t>(len, pool.size() - b->len);
    std::memcpy(b->data + b->len, p, n);
    b->len += static_cast<uint32_t>(n);
    q.added(static_cast<uint32_t>(n));
    p += n;
    len -= n;
  }
}

size_t gather(const BufferQueue& q, iovec* iov, size_t max, size_t* bytes) {
  size_t n = 0, total = 0;
  for (Buffer* b = q.front(); b && n < max; b = b->next) {
    if (b->remaining() == 0) continue;
    iov[n].iov_base = b->data + b->off;
    iov[n].iov_len = b->remaining();
    total += b->remaining();
    ++n;
  }
  if (bytes) *bytes = total;
  return n;
}

void consume(BufferPool& pool, BufferQueue& q, size_t n) {
  while (n > 0) {
    Buffer* b = q.front();
    uint32_t k = static_cast<uint32_t>(std::min<size_t>(n, b->remaining()));
    b->off += k;
    q.consumed(k);
    n -= k;
    if (b->remaining() == 0) pool.release(q.pop());
  }
  while (q.front() && q.front()->remaining() == 0) pool.release(q.pop());
}

void BufferPool::release(Buffer* b) {
  if (b->id == kHeapId) {
    delete[] b->data;
    delete b;
    --heap_buffers_;
    return;
  }
  b->len = b->off = 0;
  b->next = nullptr;
  if (b->id >= ring_count_) free_.push_back(b);
  if (listener_) listener_->on_buffer_released(b);
}

}  // namespace portico::io
