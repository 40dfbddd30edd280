#include "proxy/upstream/health_check.hpp"

#include <algorithm>
#include <limits>

namespace portico::upstream {
namespace {

bool visible(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

bool token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

uint64_t make_id(uint32_t seq, uint32_t endpoint) { return (uint64_t{seq} << 32) | endpoint; }

std::string ms(TimeNs t) { return std::to_string(t / kNsPerMs) + "ms"; }

}  // namespace

HealthCheckOptions HealthCheckOptions::from_conf(const conf::HealthCheck& h) {
  HealthCheckOptions o;
  o.type = h.type == conf::HealthCheck::Type::kHttp ? Type::kHttp : Type::kTcp;
  o.method = h.method;
  o.path = h.path;
  o.host = h.host;
  o.expect = h.expect;
  o.interval = h.interval.count();
  o.timeout = h.timeout.count();
  o.rise = h.rise;
  o.fall = h.fall;
  if (h.jitter.is_percent) o.jitter_percent = h.jitter.percent;
  else o.jitter = h.jitter.duration.count();
  o.max_in_flight = h.max_in_flight;
  return o;
}

std::unique_ptr<HealthChecker> HealthChecker::create(const HealthCheckOptions& options,
                                                     std::shared_ptr<const EndpointSet> set,
                                                     std::shared_ptr<HealthTable> table,
                                                     Random& rng, TimeNs now, std::string* err) {
  auto fail = [&](const char* why) -> std::unique_ptr<HealthChecker> {
    if (err) *err = why;
    return nullptr;
  };
  if (!set || !table || table->size() < set->size()) return fail("health table does not match the endpoints");
  if (options.type == HealthCheckOptions::Type::kHttp) {  // the loader refuses the same
    if (!token(options.method) || options.method.size() > 32) return fail("invalid health check method");
    if (options.path.empty() || options.path[0] != '/' || !visible(options.path) ||
        options.path.size() > 2048)
      return fail("invalid health check path");
    if (options.host && (options.host->empty() || !visible(*options.host) || options.host->size() > 255))
      return fail("invalid health check host");
    if (options.expect.empty()) return fail("health check expect list is empty");
  }
  std::unique_ptr<HealthChecker> c(new HealthChecker(options, std::move(set), std::move(table), rng));
  for (uint32_t i = 0; i < c->states_.size(); ++i) {
    State& s = c->states_[i];
    // A table carried over from an earlier set (discovery update, reload)
    // keeps an endpoint that was down down until `rise` successes.
    const bool was_down = (c->table_->word(i) & HealthTable::kActiveUnhealthy) != 0;
    s.status.healthy = c->options_.start_healthy && !was_down;
    if (was_down) {
      s.status.last_reason = c->table_->reason(i);
    } else if (!s.status.healthy) {
      s.status.last_reason = "not checked yet";
      c->table_->set_active(i, false, now, s.status.last_reason);
    }
    // first checks spread over one interval
    s.next_start = now + static_cast<TimeNs>(
        (static_cast<unsigned __int128>(rng.next_u64()) * uint64_t(c->options_.interval)) >> 64);
    c->starts_.push({s.next_start, i, s.seq, false});
  }
  return c;
}

HealthChecker::HealthChecker(const HealthCheckOptions& options, std::shared_ptr<const EndpointSet> set,
                             std::shared_ptr<HealthTable> table, Random& rng)
    : options_(options), set_(std::move(set)), table_(std::move(table)), rng_(rng),
      states_(set_->size()) {
  options_.interval = std::clamp<TimeNs>(options_.interval, kNsPerMs, HealthTable::kMaxSpan);
  options_.timeout = std::clamp<TimeNs>(options_.timeout, kNsPerMs, HealthTable::kMaxSpan);
  options_.rise = std::clamp<uint32_t>(options_.rise, 1, 100);
  options_.fall = std::clamp<uint32_t>(options_.fall, 1, 100);
  options_.jitter_percent = std::min<uint32_t>(options_.jitter_percent, 100);
  if (options_.jitter >= 0) options_.jitter = std::min(options_.jitter, options_.interval);
  options_.max_in_flight = std::clamp<uint32_t>(options_.max_in_flight, 1, 65536);
}

TimeNs HealthChecker::jitter() {
  const uint64_t range = options_.jitter >= 0
                             ? static_cast<uint64_t>(options_.jitter)
                             : static_cast<uint64_t>(options_.interval) * options_.jitter_percent / 100;
  if (range == 0) return 0;
  return static_cast<TimeNs>((static_cast<unsigned __int128>(rng_.next_u64()) * range) >> 64);
}

void HealthChecker::on_timer(TimeNs now, std::vector<CheckAction>& out) {
  while (!timeouts_.empty() && timeouts_.top().at <= now) {
    Event e = timeouts_.top();
    timeouts_.pop();
    State& s = states_[e.endpoint];
    if (!s.status.in_flight || e.seq != s.seq) continue;  // answered in time
    out.push_back({CheckAction::Kind::kAbort, e.endpoint, s.id});
    finish(e.endpoint, false, "timeout after " + ms(options_.timeout), now);
  }
  while (in_flight_ < options_.max_in_flight && !starts_.empty() && starts_.top().at <= now) {
    Event e = starts_.top();
    starts_.pop();
    State& s = states_[e.endpoint];
    if (s.status.in_flight || e.seq != s.seq) continue;
    s.status.in_flight = true;
    ++in_flight_;
    ++s.status.checks;
    s.id = make_id(s.seq, e.endpoint);
    s.deadline = now + options_.timeout;
    timeouts_.push({s.deadline, e.endpoint, s.seq, true});
    out.push_back({CheckAction::Kind::kStart, e.endpoint, s.id});
  }
}

TimeNs HealthChecker::next_wakeup() const {
  TimeNs next = std::numeric_limits<TimeNs>::max();
  if (!timeouts_.empty()) next = timeouts_.top().at;  // may be stale: one spare wakeup
  if (in_flight_ < options_.max_in_flight && !starts_.empty())
    next = std::min(next, starts_.top().at);
  return next;
}

bool HealthChecker::on_result(uint64_t id, bool ok, std::string_view reason, TimeNs now) {
  const uint32_t endpoint = static_cast<uint32_t>(id);
  if (endpoint >= states_.size()) return false;
  State& s = states_[endpoint];
  if (!s.status.in_flight || s.id != id) return false;
  finish(endpoint, ok, reason, now);
  // drop answered timeouts from the top so next_wakeup() stays accurate
  while (!timeouts_.empty()) {
    const Event& e = timeouts_.top();
    const State& t = states_[e.endpoint];
    if (t.status.in_flight && t.seq == e.seq) break;
    timeouts_.pop();
  }
  return true;
}

bool HealthChecker::on_http_status(uint64_t id, int status, TimeNs now) {
  if (status_expected(status)) return on_result(id, true, "status " + std::to_string(status), now);
  return on_result(id, false, "status " + std::to_string(status) + " not expected", now);
}

bool HealthChecker::status_expected(int status) const {
  return std::find(options_.expect.begin(), options_.expect.end(), status) != options_.expect.end();
}

void HealthChecker::finish(uint32_t endpoint, bool ok, std::string_view reason, TimeNs now) {
  State& s = states_[endpoint];
  Status& st = s.status;
  st.in_flight = false;
  --in_flight_;
  const TimeNs started = s.deadline - options_.timeout;
  if (ok) {
    st.failures = 0;
    if (st.successes < options_.rise) ++st.successes;
    if (!st.healthy && st.successes >= options_.rise) {
      st.healthy = true;
      table_->set_active(endpoint, true, now, reason);
    }
  } else {
    st.successes = 0;
    if (st.failures < options_.fall) ++st.failures;
    if (st.healthy && st.failures >= options_.fall) {
      st.healthy = false;
      table_->set_active(endpoint, false, now, reason);
    }
  }
  if (st.last_reason != reason) {
    st.last_reason.assign(reason.substr(0, HealthTable::kMaxReason));
    table_->set_reason(endpoint, st.last_reason);
  }
  ++s.seq;
  schedule(endpoint, std::max(now, started + options_.interval + jitter()));
}

void HealthChecker::schedule(uint32_t endpoint, TimeNs at) {
  State& s = states_[endpoint];
  s.next_start = at;
  starts_.push({at, endpoint, s.seq, false});
}

void HealthChecker::build_http_request(uint32_t endpoint, std::string& out) const {
  out.clear();
  if (endpoint >= set_->size()) return;
  out.append(options_.method).append(" ").append(options_.path).append(" HTTP/1.1\r\nHost: ");
  if (options_.host)
    out.append(*options_.host);
  else if ((*set_)[endpoint].address.family() == AF_UNIX)
    out.append("localhost");
  else
    out.append(set_->key(endpoint));
  out.append("\r\nUser-Agent: portico-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

}  // namespace portico::upstream
