#include "proxy/tls/byte_queue.hpp"

#include <cstdlib>

namespace portico::tls::block_cache {

namespace {
struct Cache {
  void* blocks[kCachedBlocks];
  size_t count = 0;
  ~Cache() {
    while (count > 0) std::free(blocks[--count]);
  }
};
thread_local Cache cache;
}  // namespace

void* take(size_t size) {
  if (size == ByteQueue::kMinBlock && cache.count > 0) return cache.blocks[--cache.count];
  return std::malloc(size);
}

void give(void* p, size_t size) {
  if (!p) return;
  if (size == ByteQueue::kMinBlock && cache.count < kCachedBlocks) {
    cache.blocks[cache.count++] = p;
    return;
  }
  std::free(p);
}

}  // namespace portico::tls::block_cache
