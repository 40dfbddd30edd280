#pragma once
// Plain value types exchanged between the dnscache Engine and its I/O glue:
// time, peers, the sends the engine asks for, and the stats it keeps.
// Owned by whoever creates them; used on the worker thread that owns the Engine.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace portico::dnscache {

// Monotonic time in nanoseconds since an arbitrary epoch, supplied by the glue.
using Time = std::chrono::nanoseconds;
inline constexpr Time kNever = Time::max();

enum class Transport : uint8_t { kUdp, kTcp };

// A network peer: the client a query came from, or an upstream server.
// conn_id identifies the TCP connection (0 for UDP); the engine only echoes it.
struct Peer {
  sockaddr_storage addr{};
  socklen_t len = 0;
  Transport transport = Transport::kUdp;
  uint64_t conn_id = 0;
};

enum class SendKind : uint8_t {
  kToClient,        // reply to `to` (the client peer, same transport and conn_id)
  kToUpstreamUdp,   // query to upstream `upstream_index` on a fresh socket for `token`
  kToUpstreamTcp,   // same over TCP (one connection per token)
};

// One datagram / DNS message to send. Bytes never carry the 2-byte TCP length
// prefix: the glue adds it on TCP sends and strips it on TCP receives.
struct Send {
  std::vector<uint8_t> bytes;
  Peer to;
  SendKind kind = SendKind::kToClient;
  uint32_t upstream_index = 0;  // index into Options::upstreams (upstream sends)
  uint32_t token = 0;           // upstream sends: tag to give back with the reply
};

// The output of one Engine call. Caller-owned and reused across calls: slots and
// their byte buffers keep their capacity, so rendering a cache hit into a warm
// Actions allocates nothing (ldns still allocates while parsing the query).
class Actions {
 public:
  // Forgets previous content (keeps capacity). Every Engine call does this first.
  void reset() {
    count_ = 0;
    released_.clear();
    next_wakeup = kNever;
  }
  // Appends a send slot (reused storage; bytes cleared).
  Send& add() {
    if (count_ == sends_.size()) sends_.emplace_back();
    Send& s = sends_[count_++];
    s.bytes.clear();
    s.upstream_index = 0;
    s.token = 0;
    return s;
  }
  // Takes back the last add() (its message could not be rendered).
  void drop_last() {
    if (count_ > 0) --count_;
  }
  void release(uint32_t token) { released_.push_back(token); }

  std::span<Send> sends() { return {sends_.data(), count_}; }
  std::span<const Send> sends() const { return {sends_.data(), count_}; }
  // Upstream tokens that are finished: the glue closes/recycles their sockets.
  std::span<const uint32_t> released() const { return released_; }

  // When to call Engine::on_timer next (kNever = no timer needed).
  Time next_wakeup = kNever;

 private:
  std::vector<Send> sends_;
  size_t count_ = 0;
  std::vector<uint32_t> released_;
};

struct UpstreamStats {
  uint64_t queries = 0;      // queries sent (UDP and TCP)
  uint64_t replies = 0;      // valid replies accepted
  uint64_t timeouts = 0;
  uint64_t failures = 0;     // SERVFAIL/REFUSED/... replies
  uint32_t srtt_us = 0;      // smoothed round-trip time
};

// Counters kept by the Engine; read with Engine::stats().
struct Stats {
  uint64_t queries = 0;            // client queries received (incl. bad ones)
  uint64_t cache_hits = 0;         // answered fresh from cache
  uint64_t cache_misses = 0;       // needed an upstream query (incl. coalesced)
  uint64_t stale_answers = 0;      // answered from an expired entry (RFC 8767)
  uint64_t local_answers = 0;      // answered from local zones/records
  uint64_t upstream_timeouts = 0;
  uint64_t servfail = 0;           // SERVFAIL sent to clients
  uint64_t refused = 0;            // REFUSED sent (ACL, zone transfer)
  uint64_t formerr = 0;            // FORMERR sent
  uint64_t dropped = 0;            // client packets dropped without answer
  uint64_t truncated = 0;          // UDP replies sent with TC
  uint64_t coalesced = 0;          // queries joined an in-flight upstream query
  uint64_t prefetches = 0;         // background refreshes started
  uint64_t tcp_retries = 0;        // upstream replies with TC retried over TCP
  uint64_t bogus_replies = 0;      // upstream packets ignored (unknown, spoofed, malformed)
  uint64_t evictions = 0;          // LRU evictions
  uint64_t cache_entries = 0;      // current size
  std::vector<UpstreamStats> upstreams;
};

}  // namespace portico::dnscache
