#pragma once
// Upstream choice for the dnscache Engine: lowest smoothed RTT among the upstreams
// not yet tried for a question, with occasional exploration of another one.
// State lives in the Engine's Stats::upstreams; used on the Engine's thread.

#include <cstdint>
#include <optional>
#include <vector>

#include "dnscache/random.hpp"
#include "dnscache/types.hpp"

namespace portico::dnscache {

inline constexpr uint32_t kInitialSrttUs = 50'000;
inline constexpr uint32_t kMaxSrttUs = 10'000'000;

// Index of the upstream to use next; `tried` has bit i set for upstream i already
// used. nullopt when every upstream was tried.
std::optional<uint32_t> pick_upstream(const std::vector<UpstreamStats>& ups, uint64_t tried,
                                      uint32_t explore_percent, Random& rng);

// srtt = 7/8 srtt + 1/8 rtt.
void record_rtt(UpstreamStats& up, Time rtt);
// Timeout or failure: back off (srtt doubled, at least `penalty`, capped).
void record_penalty(UpstreamStats& up, Time penalty);

}  // namespace portico::dnscache
