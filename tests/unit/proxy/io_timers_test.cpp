#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "proxy/io/timers.hpp"

using portico::io::Timer;
using portico::io::TimerHandler;
using portico::io::Timers;

namespace {
struct Recorder final : TimerHandler {
  std::vector<int> fired;
  void on_timer(Timer& t) override { fired.push_back(t.tag()); }
};
}  // namespace

TEST_CASE("timers fire in deadline order and only when due") {
  Timers ts;
  Recorder r;
  Timer a(&r, 1), b(&r, 2), c(&r, 3);
  ts.arm(a, 300);
  ts.arm(b, 100);
  ts.arm(c, 200);
  CHECK(ts.next_deadline() == 100);
  CHECK(ts.run(99) == 0);
  CHECK(ts.run(250) == 2);
  CHECK(r.fired == std::vector<int>{2, 3});
  CHECK(a.armed());
  CHECK_FALSE(b.armed());
  CHECK(ts.run(1000) == 1);
  CHECK(ts.next_deadline() == -1);
}

TEST_CASE("re-arming moves a timer both ways; cancel removes it") {
  Timers ts;
  Recorder r;
  Timer a(&r, 1), b(&r, 2);
  ts.arm(a, 100);
  ts.arm(b, 200);
  ts.arm(a, 300);  // later
  CHECK(ts.next_deadline() == 200);
  ts.arm(a, 50);  // earlier
  CHECK(ts.next_deadline() == 50);
  ts.cancel(a);
  CHECK_FALSE(a.armed());
  ts.cancel(a);  // idempotent
  CHECK(ts.size() == 1);
  ts.run(1000);
  CHECK(r.fired == std::vector<int>{2});
}

TEST_CASE("heap stays ordered under random arm/cancel churn") {
  Timers ts;
  Recorder r;
  std::vector<Timer> timers(500);
  for (size_t i = 0; i < timers.size(); ++i) timers[i].bind(&r, static_cast<uint8_t>(i % 250));
  std::mt19937 rng(42);
  for (int round = 0; round < 5000; ++round) {
    Timer& t = timers[rng() % timers.size()];
    if (rng() % 3 == 0) ts.cancel(t); else ts.arm(t, static_cast<int64_t>(rng() % 100000));
  }
  int64_t last = -1;
  struct Check final : TimerHandler {
    int64_t* last;
    bool ok = true;
    void on_timer(Timer& t) override {
      if (t.deadline() < *last) ok = false;
      *last = t.deadline();
    }
  } check;
  check.last = &last;
  for (auto& t : timers) if (t.armed()) { int64_t d = t.deadline(); ts.cancel(t); t.bind(&check, 0); ts.arm(t, d); }
  ts.run(INT64_MAX);
  CHECK(check.ok);
  CHECK(ts.size() == 0);
}

TEST_CASE("a handler may arm timers while timers run") {
  Timers ts;
  struct Rearm final : TimerHandler {
    Timers* ts;
    int count = 0;
    void on_timer(Timer& t) override {
      if (++count < 3) ts->arm(t, t.deadline() + 10);
    }
  } h;
  h.ts = &ts;
  Timer t(&h, 0);
  ts.arm(t, 10);
  ts.run(15);
  CHECK(h.count == 1);
  ts.run(100);
  CHECK(h.count == 3);
}

TEST_CASE("arm_by only ever moves a deadline earlier") {
  Timers ts;
  Recorder r;
  Timer a(&r, 1);
  ts.arm_by(a, 500);  // not armed: arms
  CHECK(a.deadline() == 500);
  ts.arm_by(a, 900);  // later: the earlier deadline stays
  CHECK(a.deadline() == 500);
  ts.arm_by(a, 200);  // earlier: moves
  CHECK(a.deadline() == 200);
  CHECK(ts.next_deadline() == 200);
  CHECK(ts.run(200) == 1);
  CHECK_FALSE(a.armed());
  ts.arm_by(a, 900);  // fired, so not armed: arms again
  CHECK(a.deadline() == 900);
  CHECK(ts.size() == 1);
}
