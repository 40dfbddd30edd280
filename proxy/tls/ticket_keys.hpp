#pragma once
// Session-ticket keys shared by every worker of a listener: the current key
// (encrypts new tickets) and the previous one (still decrypts). The main
// thread rotates them on a schedule; workers read them in the ticket callback
// without locks (a seqlock over atomic words). Owned by a shared_ptr held by
// the listener and each worker's ServerContext; keep one per listener across
// reloads so tickets survive a reload.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace portico::tls {

class TicketKeys {
 public:
  struct Key {
    std::array<uint8_t, 16> name;  // identifies the key in the ticket
    std::array<uint8_t, 32> hmac;  // HMAC-SHA256 key
    std::array<uint8_t, 16> aes;   // AES-128-CBC key
  };

  // Generates a current key (from RAND_bytes); the previous slot starts empty.
  explicit TicketKeys(std::chrono::nanoseconds rotation);

  std::chrono::nanoseconds rotation() const { return rotation_; }

  // Main thread: previous = current, current = fresh random key.
  void rotate();
  // Main thread: rotates when `rotation` has passed since the last rotation
  // (steady clock time given by the caller). Returns true if it rotated.
  bool rotate_if_due(std::chrono::steady_clock::time_point now);

  // Any thread. A consistent copy of both keys; has_previous is false until
  // the first rotation. Returns false only if a writer kept the keys busy for
  // the whole bounded wait (then the caller issues no ticket / resumes nothing).
  bool snapshot(Key* current, Key* previous, bool* has_previous) const;

  // Bumped by every rotation (for tests and metrics).
  uint64_t generation() const { return generation_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kWords = sizeof(Key) / sizeof(uint64_t);
  static_assert(sizeof(Key) % sizeof(uint64_t) == 0);
  void store(const Key& current, const Key& previous, bool has_previous);

  std::chrono::nanoseconds rotation_;
  std::mutex writer_;  // serialises rotations (main thread only in practice)
  std::chrono::steady_clock::time_point last_rotation_{};
  Key current_plain_{};  // writer-side copy (under writer_)
  std::atomic<uint64_t> seq_{0};
  std::atomic<uint64_t> words_[2 * kWords + 1]{};  // current, previous, has_previous
  std::atomic<uint64_t> generation_{0};
};

}  // namespace portico::tls
