#pragma once
// The browser half of the mDNS engine: continuous PTR queries for configured service types
// (RFC 6762 5.2), a bounded per-interface cache with TTL expiry and refresh queries, instance
// resolution (SRV + TXT + A/AAAA), optional signature checks, added/updated/removed events.
// Owned by Engine; single-threaded.

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mdns/options.hpp"
#include "mdns/random.hpp"
#include "mdns/record.hpp"
#include "mdns/stats.hpp"
#include "mdns/types.hpp"

namespace portico::mdns {

class Browser {
 public:
  Browser(const Options& opts, Random& rnd, Stats& stats);

  void start(Time now);
  void stop();
  void on_response(const Message& m, const Source& src, Time now);
  void on_timer(Time now, std::vector<Packet>& out);
  // Recomputes instances if the cache changed and appends the differences.
  void collect_events(Time now, std::vector<BrowseEvent>& events);
  Time next_wakeup() const;

  const std::vector<Instance>& instances(std::string_view type) const;
  size_t cache_size() const { return cache_.size(); }

 private:
  struct Entry {
    Record rr;
    uint32_t ifindex = 0;
    Time received{};
    Time expires{};
    int stage = 0;  // refresh queries sent (0..4)
    Time refresh_at = kNever;
  };
  struct Browse {
    std::string type;  // "_http._tcp"
    Name name;         // lower-cased "_http._tcp.local"
    Time next_query = kNever;
    Duration interval{1000};
    std::vector<Instance> instances;
  };
  struct Verified {
    std::vector<uint8_t> signed_bytes;
    std::string sig;
    bool ok = false;
  };
  using Cache = std::multimap<Name, Entry>;  // lower-cased owner name -> entries

  bool relevant(const Record& r, uint32_t ifindex) const;
  void insert(const Record& r, uint32_t ifindex, Time now);
  void schedule_refresh(Entry& e);
  void recompute(Time now, std::vector<BrowseEvent>& events);
  bool check_signature(const std::string& key, const Instance& inst, const Name& full,
                       const Name& target, const std::string& sig);
  void send_query(uint32_t ifindex, std::vector<Question> qs, std::vector<Record> known,
                  std::vector<Packet>& out);

  const Options& opts_;
  Random& rnd_;
  Stats& stats_;
  std::vector<Browse> browses_;
  Cache cache_;
  bool dirty_ = false;
  bool started_ = false;
  Time resolve_at_ = kNever;
  int resolve_attempts_ = 0;
  std::vector<std::pair<uint32_t, Question>> unresolved_;  // questions that would help
  std::unordered_map<std::string, Verified> verified_;     // per instance key
};

}  // namespace portico::mdns
