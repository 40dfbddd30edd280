#include "proxy/upstream/cluster.hpp"

#include <algorithm>

#include "proxy/base/log.hpp"

namespace portico::upstream {

// ---------------------------------------------------------------- SharedCluster

SharedCluster::SharedCluster(const conf::Cluster& c)
    : config_(c), lb_options_(LbOptions::from_cluster(c)),
      budget_(c.retry_budget.percent, c.retry_budget.min_concurrent) {}

std::shared_ptr<SharedCluster> SharedCluster::create(const conf::Cluster& c,
                                                     const SharedCluster* previous,
                                                     std::string* err) {
  std::shared_ptr<SharedCluster> sc(new SharedCluster(c));
  std::shared_ptr<const ClusterSnapshot> old = previous ? previous->snapshot() : nullptr;
  std::shared_ptr<const EndpointSet> set;
  if (c.discovery.kind == conf::Discovery::Kind::kNone) {
    set = EndpointSet::from_cluster(c, err);
  } else if (old && previous->config_.discovery.kind == c.discovery.kind &&
             previous->config_.discovery.name == c.discovery.name) {
    set = old->set;  // same source: keep what was discovered until the next answer
  } else {
    set = EndpointSet::build({}, err);
  }
  if (!set) return nullptr;
  auto snap = sc->build(std::move(set), old.get());
  sc->snapshot_ = snap;
  sc->version_.store(1, std::memory_order_release);
  return sc;
}

std::shared_ptr<const ClusterSnapshot> SharedCluster::build(std::shared_ptr<const EndpointSet> set,
                                                            const ClusterSnapshot* old) const {
  auto s = std::make_shared<ClusterSnapshot>();
  s->health = std::make_shared<HealthTable>(set->size());
  if (old) s->health->carry_over(*old->set, *old->health, *set);
  s->plan = LbPlan::build(set, lb_options_);
  s->breakers = CircuitBreakers::for_cluster(config_, set->size());
  s->set = std::move(set);
  return s;
}

std::shared_ptr<const ClusterSnapshot> SharedCluster::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

bool SharedCluster::set_endpoints(std::vector<Endpoint> endpoints, std::string* err) {
  auto set = EndpointSet::build(std::move(endpoints), err);
  if (!set) return false;
  std::lock_guard<std::mutex> lock(mu_);
  const EndpointSet& cur = *snapshot_->set;
  bool same = cur.size() == set->size();
  for (size_t i = 0; same && i < cur.size(); ++i)
    same = cur.key(i) == set->key(i) && cur[i].weight == (*set)[i].weight &&
           cur[i].priority == (*set)[i].priority;
  if (same) return true;
  auto snap = build(std::move(set), snapshot_.get());
  snapshot_ = std::move(snap);
  version_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::vector<EndpointStatus> SharedCluster::describe(TimeNs now) const {
  auto snap = snapshot();
  std::vector<EndpointStatus> out;
  out.reserve(snap->set->size());
  for (size_t i = 0; i < snap->set->size(); ++i) {
    const Endpoint& e = (*snap->set)[i];
    const uint32_t w = snap->health->word(i);
    EndpointStatus st;
    st.address = snap->set->key(i);
    st.weight = e.weight;
    st.priority = e.priority;
    st.healthy = !(w & HealthTable::kActiveUnhealthy);
    const TimeNs until = HealthTable::word_ejected_until(w, now);
    st.ejected = until > now;
    st.ejected_for = st.ejected ? until - now : 0;
    st.available = HealthTable::word_available(w, now);
    st.reason = snap->health->reason(i);
    st.connections = snap->breakers->connections(i);
    st.pending = snap->breakers->pending(i);
    out.push_back(std::move(st));
  }
  return out;
}

// ---------------------------------------------------------------- Lease

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    if (epoch_) owner_->release(*this, Outcome::kSuccess, -1);
    epoch_ = o.epoch_;
    owner_ = o.owner_;
    endpoint_ = o.endpoint_;
    pending_ = o.pending_;
    start_ = o.start_;
    o.epoch_ = nullptr;
    o.owner_ = nullptr;
  }
  return *this;
}

Lease::~Lease() {
  if (epoch_) owner_->release(*this, Outcome::kSuccess, -1);
}

const conf::Address& Lease::address() const { return (*epoch_->snap->set)[endpoint_].address; }

// ---------------------------------------------------------------- WorkerCluster

WorkerCluster::WorkerCluster(std::shared_ptr<SharedCluster> shared, uint64_t seed)
    : shared_(std::move(shared)), seed_(seed) {}

WorkerCluster::~WorkerCluster() = default;

void WorkerCluster::refresh(TimeNs now) {
  const uint64_t v = shared_->version();
  if (v == seen_version_ && current_) {
    if (current_->outlier && now >= current_->outlier->next_wakeup()) current_->outlier->on_timer(now);
    return;
  }
  seen_version_ = v;
  auto e = std::make_unique<Epoch>();
  e->snap = shared_->snapshot();
  e->lb = LoadBalancer::create(e->snap->plan, e->snap->health, seed_);
  if (shared_->config().outlier)
    e->outlier = std::make_unique<OutlierDetector>(OutlierOptions::from_conf(*shared_->config().outlier),
                                                   e->snap->health);
  Epoch* old = current_;
  current_ = e.get();
  epochs_.push_back(std::move(e));
  if (old && old->refs == 0) unpin(old);
}

void WorkerCluster::unpin(Epoch* e) {
  if (e == current_ || e->refs > 0) return;
  std::erase_if(epochs_, [e](const std::unique_ptr<Epoch>& p) { return p.get() == e; });
}

PickError WorkerCluster::acquire(const PickContext& ctx, bool needs_connect, Lease* out) {
  refresh(ctx.now);
  Epoch* e = current_;
  CircuitBreakers& cb = *e->snap->breakers;
  Exclusion skip;
  if (ctx.exclude)
    for (uint32_t i = 0; i < e->snap->set->size() && skip.size() < ctx.exclude->size(); ++i)
      if (ctx.exclude->contains(i)) skip.add(i);
  PickContext pc = ctx;
  pc.exclude = &skip;
  // Not configuration: how many endpoints over their circuit-breaker limits
  // one acquire() skips before answering kOverflow. Each skip is a pick (no
  // I/O, no waiting); 3 keeps a mostly-full cluster's 503 cheap.
  constexpr int kTries = 3;
  bool overflow = false;
  for (int t = 0; t < kTries; ++t) {
    std::optional<uint32_t> i = e->lb->pick(pc);
    if (!i) return overflow ? PickError::kOverflow : PickError::kNoEndpoint;
    if (!cb.try_open_connection(*i)) {
      overflow = true;
      if (skip.contains(*i)) break;  // every candidate is excluded or full
      skip.add(*i);
      continue;
    }
    if (needs_connect && !cb.try_add_pending(*i)) {
      cb.connection_closed(*i);
      overflow = true;
      if (skip.contains(*i)) break;
      skip.add(*i);
      continue;
    }
    *out = Lease();
    out->epoch_ = e;
    out->owner_ = this;
    out->endpoint_ = *i;
    out->pending_ = needs_connect;
    out->start_ = ctx.now;
    ++e->refs;
    e->lb->on_request_start(*i);
    return PickError::kNone;
  }
  return PickError::kOverflow;
}

bool WorkerCluster::begin_connect(Lease& l) {
  if (!l.epoch_ || l.pending_) return true;
  if (!l.epoch_->snap->breakers->try_add_pending(l.endpoint_)) return false;
  l.pending_ = true;
  return true;
}

void WorkerCluster::connected(Lease& l) {
  if (!l.epoch_ || !l.pending_) return;
  l.pending_ = false;
  l.epoch_->snap->breakers->pending_done(l.endpoint_);
}

void WorkerCluster::release(Lease& l, Outcome outcome, TimeNs now) {
  Epoch* e = l.epoch_;
  if (!e) return;
  const uint32_t i = l.endpoint_;
  if (l.pending_) e->snap->breakers->pending_done(i);
  e->snap->breakers->connection_closed(i);
  if (now < 0) {
    e->lb->on_request_abandoned(i);
  } else {
    e->lb->on_request_end(i, now - l.start_, outcome == Outcome::kSuccess, now);
    if (e->outlier && e == current_ && e->outlier->on_result(i, outcome, now)) {
      const TimeNs until = HealthTable::word_ejected_until(e->snap->health->word(i), now);
      LOG_INFO("cluster=%s endpoint=%s ejected=%lldms failures=%u", shared_->name().c_str(),
               e->snap->set->key(i).c_str(), static_cast<long long>((until - now) / kNsPerMs),
               e->outlier->options().consecutive_failures);
    }
  }
  l.epoch_ = nullptr;
  l.owner_ = nullptr;
  --e->refs;
  if (e != current_ && e->refs == 0) unpin(e);
}

std::optional<conf::Address> WorkerCluster::pick_address(TimeNs now, uint64_t hash) {
  refresh(now);
  PickContext ctx{now, hash, nullptr};
  std::optional<uint32_t> i = current_->lb->pick(ctx);
  if (!i) return std::nullopt;
  return (*current_->snap->set)[*i].address;
}

const LoadBalancer& WorkerCluster::balancer(TimeNs now) {
  refresh(now);
  return *current_->lb;
}

}  // namespace portico::upstream
