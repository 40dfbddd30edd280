#pragma once
// Per-worker timers: an intrusive 4-ary min-heap of deadlines. Arming,
// re-arming and cancelling are O(log n) and allocation-free once the heap's
// capacity has grown. Owned by one worker; used only on its thread.
//
// Idle timeouts should not re-arm on every byte: record the activity time and
// let the timer, when it fires, re-arm itself for the remaining time.

#include <cstdint>
#include <vector>

#include "proxy/base/clock.hpp"

namespace portico::io {

class Timer;

class TimerHandler {
 public:
  virtual void on_timer(Timer& t) = 0;

 protected:
  ~TimerHandler() = default;
};

class Timer {
 public:
  Timer() = default;
  Timer(TimerHandler* h, uint8_t tag) : handler_(h), tag_(tag) {}
  void bind(TimerHandler* h, uint8_t tag) { handler_ = h; tag_ = tag; }
  bool armed() const { return index_ != kNotArmed; }
  TimeNs deadline() const { return deadline_; }
  uint8_t tag() const { return tag_; }

 private:
  friend class Timers;
  static constexpr uint32_t kNotArmed = UINT32_MAX;
  TimerHandler* handler_ = nullptr;
  TimeNs deadline_ = 0;
  uint32_t index_ = kNotArmed;
  uint8_t tag_ = 0;
};

class Timers {
 public:
  void arm(Timer& t, TimeNs deadline);  // re-arms if already armed
  // Makes t fire no later than `deadline`. An earlier deadline already armed
  // stays (no heap work): the handler must check, when it fires, whether its
  // real deadline has come, and arm again if not, as idle timers do.
  void arm_by(Timer& t, TimeNs deadline) {
    if (!t.armed() || deadline < t.deadline_) arm(t, deadline);
  }
  void cancel(Timer& t);
  size_t size() const { return heap_.size(); }
  // Earliest deadline, or -1 when no timer is armed.
  TimeNs next_deadline() const { return heap_.empty() ? -1 : heap_[0]->deadline_; }
  // Fires every timer whose deadline is <= now (handlers may arm/cancel timers).
  // Returns how many fired.
  size_t run(TimeNs now);

 private:
  void sift_up(uint32_t i);
  void sift_down(uint32_t i);
  void place(uint32_t i, Timer* t) { heap_[i] = t; t->index_ = i; }
  void remove_at(uint32_t i);
  std::vector<Timer*> heap_;
};

}  // namespace portico::io
