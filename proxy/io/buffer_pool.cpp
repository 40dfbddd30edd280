#include "proxy/io/buffer_pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
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

void BufferPool::release(Buffer* b) {
  b->len = b->off = 0;
  b->next = nullptr;
  if (b->id >= ring_count_) free_.push_back(b);
  if (listener_) listener_->on_buffer_released(b);
}

}  // namespace portico::io
