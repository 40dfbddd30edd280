#pragma once
// Local authoritative data of the dnscache Engine: RFC 1035 zone files and single
// records from the config, loaded with ldns. Immutable after load; the Engine owns
// it (a reload builds a new one) and queries it on its own thread.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dnscache/ldns_ptr.hpp"
#include "dnscache/message.hpp"
#include "dnscache/options.hpp"

namespace portico::dnscache {

class LocalData {
 public:
  // Loads every zone and record. On failure returns nullptr and sets `error` to a
  // message naming the zone/record, file and line.
  static std::unique_ptr<LocalData> load(const std::vector<ZoneSpec>& zones,
                                         const std::vector<std::string>& records,
                                         std::string& error);

  bool empty() const { return zones_.empty(); }

  // If `key` (lower-cased) falls inside local data, renders the authoritative
  // answer (AA; NXDOMAIN/NODATA with the zone SOA; CNAMEs followed at most
  // `max_chain` times; ANY answered with one RRset, RFC 8482) and returns true.
  // Returns false when the name is not local and must be forwarded. A local
  // answer too large for any message is a SERVFAIL, never forwarded.
  bool answer(const QuestionKey& key, uint32_t max_chain, Response& out) const;

 private:
  struct Node {
    std::vector<RrPtr> rrs;
  };
  struct SvHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using NameMap = std::unordered_map<std::string, V, SvHash, std::equal_to<>>;
  struct Zone {
    std::string apex;     // lower-cased wire name
    bool exact_only = false;  // config records outside any zone: just that name, no SOA
    RrPtr soa;
    NameMap<Node> nodes;  // every owner name and empty non-terminal down from the apex
  };

  const Zone* find_zone(std::string_view name) const;
  static void add_rr(Zone& zone, std::string_view owner, RrPtr rr);

  NameMap<Zone> zones_;
};

}  // namespace portico::dnscache
