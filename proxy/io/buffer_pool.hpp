#pragma once
// A per-worker pool of fixed-size I/O buffers carved from one allocation made
// at start-up: nothing is allocated per I/O operation. Buffers are handed out
// by id; the io_uring backend lends a range of them to the kernel as a
// provided-buffer ring. Owned by one worker; used only on that worker's thread.

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace portico::io {

struct Buffer {
  uint8_t* data = nullptr;
  uint32_t id = 0;
  uint32_t len = 0;  // bytes filled
  uint32_t off = 0;  // bytes already consumed (sent)
  Buffer* next = nullptr;  // intrusive link for queues (owner's use)

  uint32_t remaining() const { return len - off; }
  const uint8_t* readable() const { return data + off; }
};

// Intrusive FIFO of buffers; no allocation.
class BufferQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  Buffer* back() const { return tail_; }
  void added(uint32_t n) { bytes_ += n; }  // after appending n bytes to back()
  Buffer* front() const { return head_; }
  size_t bytes() const { return bytes_; }
  void push(Buffer* b) {
    b->next = nullptr;
    if (tail_) tail_->next = b; else head_ = b;
    tail_ = b;
    bytes_ += b->remaining();
  }
  Buffer* pop() {
    Buffer* b = head_;
    if (!b) return nullptr;
    head_ = b->next;
    if (!head_) tail_ = nullptr;
    b->next = nullptr;
    bytes_ -= b->remaining();
    return b;
  }
  void consumed(uint32_t n) { bytes_ -= n; }  // after advancing front()->off by n

 private:
  Buffer* head_ = nullptr;
  Buffer* tail_ = nullptr;
  size_t bytes_ = 0;
};

class BufferPool {
 public:
  // Called when a buffer returns to the pool; the loop uses it to refill its
  // provided-buffer ring and to wake receivers starved of buffers.
  class Listener {
   public:
    virtual void on_buffer_released(Buffer* b) = 0;

   protected:
    ~Listener() = default;
  };

  BufferPool(uint32_t count, uint32_t size);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  uint32_t size() const { return size_; }
  uint32_t count() const { return count_; }
  Buffer* at(uint32_t id) { return &buffers_[id]; }
  uint8_t* base() const { return memory_; }

  // Free-list side (buffers not lent to a kernel ring).
  Buffer* acquire();  // nullptr when exhausted
  // Like acquire(), but when the pool is exhausted falls back to a heap
  // buffer of the same size (freed again by release()). For output that
  // must not fail; callers bound how much they queue per connection.
  Buffer* acquire_any();
  void release(Buffer* b);
  uint32_t heap_buffers() const { return heap_buffers_; }
  static constexpr uint32_t kHeapId = UINT32_MAX;
  uint32_t available() const { return static_cast<uint32_t>(free_.size()); }

  // The first `n` buffers are reserved for a kernel ring: they never enter
  // the free list; release() passes them to the listener instead.
  void reserve_for_ring(uint32_t n);
  uint32_t ring_count() const { return ring_count_; }
  void set_listener(Listener* l) { listener_ = l; }

 private:
  uint8_t* memory_ = nullptr;
  uint32_t count_;
  uint32_t size_;
  uint32_t ring_count_ = 0;
  std::vector<Buffer> buffers_;
  std::vector<Buffer*> free_;  // capacity fixed at construction
  Listener* listener_ = nullptr;
  uint32_t heap_buffers_ = 0;  // outstanding heap fallbacks
};

// Appends bytes to the queue's last buffer, taking more buffers as needed.
void append(BufferPool& pool, BufferQueue& q, const void* data, size_t len);

// Gathers up to `max` unsent buffer slices from the front of the queue into
// iov (one sendmsg writes them all); returns how many were filled, and
// their total length in *bytes if given.
size_t gather(const BufferQueue& q, struct iovec* iov, size_t max, size_t* bytes = nullptr);
// Marks n bytes from the front as sent, releasing buffers that are done.
void consume(BufferPool& pool, BufferQueue& q, size_t n);

}  // namespace portico::io
