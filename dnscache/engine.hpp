#pragma once
// The sans-I/O caching DNS server: local authoritative data, answer cache and
// forwarder with coalescing, failover and serve-stale. Bytes, peer and time in;
// sends, released upstream tokens and the next wake-up time out (see README.md).
// Owned by one worker's DNS module; every method must be called on that thread.

#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnscache/cache.hpp"
#include "dnscache/local_data.hpp"
#include "dnscache/message.hpp"
#include "dnscache/options.hpp"
#include "dnscache/random.hpp"
#include "dnscache/types.hpp"

namespace portico::dnscache {

class Engine {
 public:
  // Validates options and loads zones/records. nullptr with `error` set on failure.
  // `rng` must outlive the engine.
  static std::unique_ptr<Engine> create(Options options, Random& rng, std::string& error);

  // Applies new options (zones reloaded, ACL, limits, upstreams). On error keeps
  // the old ones and returns false with `error` set. The cache is kept (trimmed to
  // the new bounds); in-flight queries finish against the upstream they were sent to.
  bool reload(Options options, std::string& error);

  // A query from a client (UDP datagram, or one TCP message without length prefix).
  void on_client_query(std::span<const uint8_t> bytes, const Peer& client, Time now, Actions& out);
  // A message received on the upstream socket/connection of `token`, from `from`.
  void on_upstream_reply(std::span<const uint8_t> bytes, const Peer& from, uint32_t token, Time now,
                         Actions& out);
  // The upstream socket or connection of `token` failed before a usable reply
  // (ICMP port unreachable, refused or reset connection, closed early): the
  // attempt ends now instead of at its deadline, and the next upstream is tried.
  void on_upstream_error(uint32_t token, Time now, Actions& out);
  // The glue calls this at (or after) Actions::next_wakeup.
  void on_timer(Time now, Actions& out);

  const Stats& stats() const { return stats_; }
  size_t outstanding() const { return pending_.size(); }

 private:
  struct Waiter {
    ClientQuery query;
    Peer peer;
  };
  // One upstream question in flight (one attempt = one token).
  struct Pending {
    QuestionKey key;
    uint16_t id = 0;
    uint32_t upstream = 0;
    Peer upstream_peer;
    Transport transport = Transport::kUdp;
    Time sent_at{};
    Time deadline{};
    uint64_t tried = 0;  // bit per upstream index
    uint32_t attempts = 0;
    std::vector<Waiter> waiters;  // bounded by Options::max_waiters
  };

  Engine(Options options, Random& rng, std::unique_ptr<LocalData> local);

  void answer_query(const ClientQuery& q, const Peer& client, Time now, Actions& out);
  void send_error(const ClientQuery& q, const Peer& client, uint16_t rcode, Actions& out);
  void send_response(const Response& r, const ClientQuery& q, const Peer& client,
                     const RenderTtl& ttl, Actions& out);
  bool send_stale(const ClientQuery& q, const Peer& client, const QuestionKey& key, Time now,
                  Actions& out);
  void answer_any(const ClientQuery& q, const Peer& client, Actions& out);
  // Joins an in-flight question or starts one; over a bound: stale or SERVFAIL.
  void forward(const QuestionKey& key, const Waiter* waiter, Time now, Actions& out);
  // Sends the next attempt of `p` (new ID, new token); false if no upstream is left.
  bool send_attempt(Pending&& p, Transport transport, std::optional<uint32_t> upstream, Time now,
                    Actions& out);
  // Removes the attempt `token` from the tables and hands its Pending back.
  Pending take(uint32_t token, Actions& out);
  // Attempt failed: next upstream, or answer the waiters stale/SERVFAIL.
  void retry_or_fail(Pending&& p, Time now, Actions& out);
  void accept_reply(Pending&& p, const ldns_pkt* reply, Time now, Actions& out);
  void finish(Actions& out);
  uint32_t new_token();
  // How long one attempt over `t` may take (its deadline; also the penalty of
  // an attempt that failed without a reply).
  Time attempt_timeout(Transport t) const {
    return t == Transport::kTcp ? Time(options_.upstream_tcp_timeout) : Time(options_.upstream_timeout);
  }
  UpstreamStats& upstream_stats(uint32_t index);

  Options options_;
  Random& rng_;
  std::unique_ptr<LocalData> local_;
  Cache cache_;
  OptRecords opt_;
  Stats stats_;

  std::unordered_map<uint32_t, Pending> pending_;  // by token
  std::unordered_map<QuestionKey, uint32_t, QuestionKeyHash> inflight_;  // question -> token
  std::set<std::pair<Time, uint32_t>> deadlines_;
  uint32_t next_token_ = 1;

  // Scratch objects reused across calls (no per-query allocation once warm).
  ClientQuery query_;
  QuestionKey key_;
  Response response_;
  UpstreamStats scratch_upstream_;
};

}  // namespace portico::dnscache
