#include "dnscache/upstream_select.hpp"

#include <algorithm>

namespace portico::dnscache {

std::optional<uint32_t> pick_upstream(const std::vector<UpstreamStats>& ups, uint64_t tried,
                                      uint32_t explore_percent, Random& rng) {
  std::optional<uint32_t> best;
  uint32_t candidates = 0;
  for (uint32_t i = 0; i < ups.size() && i < 64; ++i) {
    if (tried & (uint64_t{1} << i)) continue;
    ++candidates;
    if (!best || ups[i].srtt_us < ups[*best].srtt_us) best = i;
  }
  if (candidates > 1 && rng.uniform(100) < explore_percent) {
    // Exploration: a uniformly chosen other candidate, so a recovered upstream
    // gets its srtt measured again.
    uint32_t k = rng.uniform(candidates - 1);
    for (uint32_t i = 0; i < ups.size() && i < 64; ++i) {
      if ((tried & (uint64_t{1} << i)) || i == *best) continue;
      if (k-- == 0) return i;
    }
  }
  return best;
}

void record_rtt(UpstreamStats& up, Time rtt) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(rtt).count();
  const uint64_t sample = static_cast<uint64_t>(std::clamp<int64_t>(us, 1, kMaxSrttUs));
  up.srtt_us = static_cast<uint32_t>((uint64_t{up.srtt_us} * 7 + sample) / 8);
}

void record_penalty(UpstreamStats& up, Time penalty) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(penalty).count();
  const uint64_t doubled = uint64_t{up.srtt_us} * 2;
  const uint64_t v = std::max<uint64_t>(doubled, static_cast<uint64_t>(std::max<int64_t>(us, 0)));
  up.srtt_us = static_cast<uint32_t>(std::min<uint64_t>(v, kMaxSrttUs));
}

}  // namespace portico::dnscache
