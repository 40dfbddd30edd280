#pragma once
// Settings of one dnscache Engine. Plain data built by the proxy glue from the
// config (conf::) and handed to Engine::create / Engine::reload; the engine keeps a copy.

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dnscache/cidr.hpp"

namespace portico::dnscache {

// An RFC 1035 master file served authoritatively for `name`.
struct ZoneSpec {
  std::string name;  // origin, e.g. "example.test"
  std::string file;  // path of the zone file
};

struct Options {
  // Upstream resolvers (port included). Empty: every miss is answered SERVFAIL.
  // At most kMaxUpstreams are used.
  std::vector<sockaddr_storage> upstreams;

  // Cache.
  size_t max_entries = 100000;                     // LRU-bounded
  size_t max_cache_bytes = size_t{64} << 20;       // also bounded by rendered size
  std::chrono::seconds min_ttl{0};                 // clamp of positive TTLs
  std::chrono::seconds max_ttl{86400};
  std::chrono::seconds negative_ttl{3600};         // cap for NXDOMAIN/NODATA (RFC 2308)
  std::chrono::seconds serve_stale{86400};         // RFC 8767 window after expiry, 0 = off
  uint32_t stale_answer_ttl = 30;                  // TTL put on stale answers
  bool prefetch = true;                            // refresh popular entries before expiry
  uint32_t prefetch_min_hits = 3;                  // hits during the TTL to count as popular

  // Upstream queries.
  std::chrono::milliseconds upstream_timeout{1500};      // per UDP attempt
  std::chrono::milliseconds upstream_tcp_timeout{3000};  // per TCP attempt (connect included)
  uint32_t max_attempts = 3;                // upstreams tried per question (>= 1)
  uint32_t explore_percent = 5;             // chance to try a non-best upstream
  size_t max_outstanding = 1024;            // in-flight upstream questions; over: SERVFAIL
  size_t max_waiters = 64;                  // clients coalesced on one question; over: SERVFAIL
  uint16_t upstream_edns_size = 1232;       // EDNS UDP size advertised upstream

  // Client side.
  uint16_t max_udp_payload = 1232;          // cap on the client's EDNS size (min 512)
  size_t max_query_size = 4096;             // larger client queries are answered FORMERR
  uint32_t max_cname_chain = 8;             // local CNAME chasing bound

  // Clients allowed to query; others get REFUSED. Empty list = nobody.
  std::vector<Cidr> allow = {*Cidr::parse("127.0.0.0/8"), *Cidr::parse("::1/128")};

  // Local authoritative data (answered with AA, never forwarded).
  std::vector<ZoneSpec> zones;
  std::vector<std::string> records;  // presentation format, e.g. "www.example.test. 300 IN A 127.0.0.1"
};

inline constexpr size_t kMaxUpstreams = 64;

}  // namespace portico::dnscache
