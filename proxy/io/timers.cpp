#include "proxy/io/timers.hpp"

namespace portico::io {

namespace {
constexpr uint32_t kArity = 4;
}

void Timers::arm(Timer& t, TimeNs deadline) {
  if (t.armed()) {
    TimeNs old = t.deadline_;
    t.deadline_ = deadline;
    if (deadline < old) sift_up(t.index_); else sift_down(t.index_);
    return;
  }
  t.deadline_ = deadline;
  heap_.push_back(&t);
  t.index_ = static_cast<uint32_t>(heap_.size() - 1);
  sift_up(t.index_);
}

void Timers::cancel(Timer& t) {
  if (t.armed()) remove_at(t.index_);
}

void Timers::remove_at(uint32_t i) {
  Timer* gone = heap_[i];
  Timer* last = heap_.back();
  heap_.pop_back();
  gone->index_ = Timer::kNotArmed;
  if (gone == last) return;
  place(i, last);
  if (i > 0 && last->deadline_ < heap_[(i - 1) / kArity]->deadline_) sift_up(i); else sift_down(i);
}

void Timers::sift_up(uint32_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / kArity;
    if (heap_[parent]->deadline_ <= t->deadline_) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void Timers::sift_down(uint32_t i) {
  Timer* t = heap_[i];
  const uint32_t n = static_cast<uint32_t>(heap_.size());
  for (;;) {
    uint32_t first = i * kArity + 1;
    if (first >= n) break;
    uint32_t best = first;
    uint32_t end = first + kArity < n ? first + kArity : n;
    for (uint32_t c = first + 1; c < end; ++c)
      if (heap_[c]->deadline_ < heap_[best]->deadline_) best = c;
    if (heap_[best]->deadline_ >= t->deadline_) break;
    place(i, heap_[best]);
    i = best;
  }
  place(i, t);
}

size_t Timers::run(TimeNs now) {
  size_t fired = 0;
  while (!heap_.empty() && heap_[0]->deadline_ <= now) {
    Timer* t = heap_[0];
    remove_at(0);
    ++fired;
    t->handler_->on_timer(*t);
  }
  return fired;
}

}  // namespace portico::io
