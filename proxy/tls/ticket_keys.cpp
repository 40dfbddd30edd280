#include "proxy/tls/ticket_keys.hpp"

#include <openssl/rand.h>

#include <cstring>

namespace portico::tls {
namespace {

TicketKeys::Key fresh_key() {
  TicketKeys::Key k;
  RAND_bytes(k.name.data(), k.name.size());
  RAND_bytes(k.hmac.data(), k.hmac.size());
  RAND_bytes(k.aes.data(), k.aes.size());
  return k;
}

}  // namespace

TicketKeys::TicketKeys(std::chrono::nanoseconds rotation) : rotation_(rotation) {
  std::lock_guard<std::mutex> lock(writer_);
  current_plain_ = fresh_key();
  last_rotation_ = std::chrono::steady_clock::now();
  store(current_plain_, Key{}, false);
}

void TicketKeys::rotate() {
  std::lock_guard<std::mutex> lock(writer_);
  Key previous = current_plain_;
  current_plain_ = fresh_key();
  last_rotation_ = std::chrono::steady_clock::now();
  store(current_plain_, previous, true);
  generation_.fetch_add(1, std::memory_order_relaxed);
}

bool TicketKeys::rotate_if_due(std::chrono::steady_clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(writer_);
    if (now - last_rotation_ < rotation_) return false;
  }
  rotate();
  return true;
}

void TicketKeys::store(const Key& current, const Key& previous, bool has_previous) {
  uint64_t buf[2 * kWords + 1];
  std::memcpy(buf, &current, sizeof(Key));
  std::memcpy(buf + kWords, &previous, sizeof(Key));
  buf[2 * kWords] = has_previous ? 1 : 0;
  // Seqlock write: odd sequence while the words change.
  uint64_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < 2 * kWords + 1; ++i) words_[i].store(buf[i], std::memory_order_relaxed);
  seq_.store(s + 2, std::memory_order_release);
}

bool TicketKeys::snapshot(Key* current, Key* previous, bool* has_previous) const {
  uint64_t buf[2 * kWords + 1];
  for (int attempt = 0; attempt < 100000; ++attempt) {
    uint64_t s1 = seq_.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    for (size_t i = 0; i < 2 * kWords + 1; ++i) buf[i] = words_[i].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != s1) continue;
    std::memcpy(current, buf, sizeof(Key));
    std::memcpy(previous, buf + kWords, sizeof(Key));
    *has_previous = buf[2 * kWords] != 0;
    return true;
  }
  return false;
}

}  // namespace portico::tls
