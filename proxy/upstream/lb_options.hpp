#pragma once
// LbOptions: everything a balancer needs to know about its cluster's policy,
// each knob bounded with a default (LbPlan::build clamps them again).
// from_cluster() maps the config (docs/config.md "clusters"). Plain value,
// any thread.

#include <cstdint>

#include "conf/config.hpp"
#include "proxy/base/clock.hpp"

namespace portico::upstream {

struct LbOptions {
  conf::LbPolicy policy = conf::LbPolicy::kRoundRobin;
  // No endpoint available: false = pick nothing (the caller answers 503);
  // true = spread over all endpoints regardless of health.
  bool panic = false;
  // Slow start: an endpoint that recovers (health check up, ejection over)
  // ramps its weight from slow_start_min_percent to 100% over this window.
  // 0 = off. Applies to weighted_round_robin, least_connections,
  // least_request and random. At most HealthTable::kMaxSpan.
  TimeNs slow_start_window = 0;
  uint32_t slow_start_min_percent = 10;  // 1..100
  // ring_hash: points per unit of weight, and a cap on the ring's points (when
  // the cap bites, every endpoint still gets at least one point).
  uint32_t ring_vnodes_per_weight = 160;  // 1..10000
  uint32_t ring_max_points = 1u << 21;    // 16 bytes per point
  // maglev: lookup table size, a prime; raised to the next prime >= 10 x the
  // endpoint count when smaller (4 bytes per slot).
  uint32_t maglev_table_size = 65537;
  // least_request: EWMA weight of a new latency sample in percent (1..100), age
  // after which an endpoint's EWMA counts as unknown (it gets probed again),
  // and the smallest latency a failed request counts as.
  uint32_t ewma_alpha_percent = 30;
  TimeNs ewma_stale = 10 * kNsPerSec;
  TimeNs failure_latency = 100 * kNsPerMs;

  static LbOptions from_cluster(const conf::Cluster& c) {
    LbOptions o;
    o.policy = c.lb;
    o.panic = c.panic;
    o.slow_start_window = c.slow_start.count();
    o.slow_start_min_percent = c.slow_start_min_percent;
    o.ring_vnodes_per_weight = c.ring_hash.points_per_weight;
    o.ring_max_points = c.ring_hash.max_points;
    o.maglev_table_size = c.maglev_table_size;
    o.ewma_alpha_percent = c.least_request.ewma_alpha_percent;
    o.ewma_stale = c.least_request.ewma_stale.count();
    o.failure_latency = c.least_request.failure_latency.count();
    return o;
  }
};

}  // namespace portico::upstream
