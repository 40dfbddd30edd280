#include <doctest/doctest.h>

#include <set>

#include "proxy/io/buffer_pool.hpp"

using portico::io::Buffer;
using portico::io::BufferPool;
using portico::io::BufferQueue;

TEST_CASE("pool hands out distinct buffers until exhausted, then nullptr") {
  BufferPool pool(8, 4096);
  std::set<Buffer*> seen;
  for (int i = 0; i < 8; ++i) {
    Buffer* b = pool.acquire();
    REQUIRE(b != nullptr);
    CHECK(seen.insert(b).second);
    CHECK(reinterpret_cast<uintptr_t>(b->data) % 4096 == 0);
  }
  CHECK(pool.acquire() == nullptr);
  pool.release(*seen.begin());
  CHECK(pool.acquire() == *seen.begin());
}

TEST_CASE("ring-reserved buffers never enter the free list; listener hears every release") {
  BufferPool pool(8, 1024);
  pool.reserve_for_ring(6);
  CHECK(pool.available() == 2);
  struct L final : BufferPool::Listener {
    int released = 0;
    void on_buffer_released(Buffer*) override { ++released; }
  } l;
  pool.set_listener(&l);
  pool.release(pool.at(3));  // a ring buffer coming back from a consumer
  CHECK(pool.available() == 2);
  Buffer* b = pool.acquire();
  REQUIRE(b);
  CHECK(b->id >= 6);
  pool.release(b);
  CHECK(pool.available() == 2);
  CHECK(l.released == 2);
}

TEST_CASE("buffer queue tracks queued bytes through partial consumption") {
  BufferPool pool(4, 1024);
  BufferQueue q;
  Buffer* a = pool.acquire();
  Buffer* b = pool.acquire();
  a->len = 100;
  b->len = 50;
  q.push(a);
  q.push(b);
  CHECK(q.bytes() == 150);
  a->off += 40;
  q.consumed(40);
  CHECK(q.bytes() == 110);
  CHECK(q.pop() == a);  // pop subtracts what remains of a
  CHECK(q.bytes() == 50);
  CHECK(q.pop() == b);
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
}
