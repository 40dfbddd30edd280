#pragma once
// Counters kept by one Engine (read by the admin endpoint through the glue). Plain data.

#include <cstdint>

namespace portico::mdns {

struct Stats {
  uint64_t packets_in = 0;
  uint64_t dropped_unknown_interface = 0;
  uint64_t dropped_rate_limited = 0;
  uint64_t dropped_malformed = 0;
  uint64_t dropped_opcode_rcode = 0;
  uint64_t dropped_ttl = 0;          // IPv4 TTL / IPv6 hop limit not 255
  uint64_t dropped_source_port = 0;  // response not from port 5353
  uint64_t dropped_off_link = 0;
  uint64_t queries = 0;
  uint64_t legacy_queries = 0;
  uint64_t responses = 0;
  uint64_t packets_out = 0;
  uint64_t answers_suppressed_known = 0;      // known-answer suppression
  uint64_t answers_suppressed_duplicate = 0;  // another responder answered first
  uint64_t answers_rate_limited = 0;          // multicast at most once per second
  uint64_t tiebreaks_lost = 0;
  uint64_t conflicts = 0;
  uint64_t cache_evictions = 0;
  uint64_t signature_rejects = 0;
};

}  // namespace portico::mdns
