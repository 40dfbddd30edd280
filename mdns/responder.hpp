#pragma once
// The responder half of the mDNS engine (RFC 6762 / 6763): owns our host and service records
// per interface, probes and announces them, answers queries, detects conflicts and renames,
// sends goodbyes. Owned by Engine, which filters packets first; single-threaded.

#include <deque>
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

class Responder {
 public:
  Responder(const Options& opts, Random& rnd, Stats& stats);

  void start(Time now);
  void stop(Time now, std::vector<Packet>& out);
  bool add_service(const ServiceConfig& svc, Time now);
  bool remove_service(std::string_view instance, std::string_view type, Time now,
                      std::vector<Packet>& out);

  void on_query(const Message& m, const Source& src, Time now, std::vector<Packet>& out);
  void on_response(const Message& m, const Source& src, Time now);
  void on_timer(Time now, std::vector<Packet>& out);
  Time next_wakeup() const;

  // Current names (after any conflict renaming).
  std::string hostname() const { return host_.label; }
  std::vector<std::string> service_names() const;
  bool established() const;  // host and every service probed and announced

 private:
  enum class Phase : uint8_t { kIdle, kProbing, kAnnouncing, kEstablished };
  struct Owner {  // one unique name: our host or one service instance
    Phase phase = Phase::kIdle;
    int count = 0;  // probes sent (kProbing) or announcements sent (kAnnouncing)
    Time next = kNever;
    std::string base;   // configured label
    std::string label;  // label in use ("Name (2)", "portico-2")
    int suffix = 1;     // last rename number
    Name name;          // full name
  };
  struct Service {
    ServiceConfig cfg;
    Owner own;
    Name type_name;  // _http._tcp.local
  };
  static constexpr int kHost = -1;
  static constexpr int kEnum = -2;  // _services._dns-sd._udp.local PTR, active with any service
  struct OwnedRecord {
    Record rr;
    int owner = kHost;
    bool unique = false;
    Time last_multicast[2] = {Time::min(), Time::min()};  // v4, v6
  };
  struct Pending {  // delayed multicast response (shared answers, RFC 6762 6)
    Time due = kNever;
    std::vector<uint32_t> answers;
    std::vector<uint32_t> additional;
  };
  struct Iface {
    InterfaceConfig cfg;
    std::vector<OwnedRecord> recs;
    std::unordered_map<Name, std::vector<uint32_t>> by_name;  // lower-cased owner -> recs
    Pending pending[2];
    bool has_v4 = false, has_v6 = false;
  };

  Owner& owner(int id) { return id == kHost ? host_ : services_[size_t(id)].own; }
  const Owner* owner_ptr(int id) const;
  bool active(const OwnedRecord& r) const;
  void rebuild();
  void build_iface(Iface& f);
  Iface* find_iface(uint32_t ifindex);
  std::vector<uint8_t> families(const Iface& f) const;
  void begin_probing(Owner& o, Time now, Duration delay);
  void rename(int id, Time now);
  bool tiebreak_lost(const Iface& f, const Owner& o, const Message& m) const;
  bool ours(const Record& r) const;
  const std::vector<uint32_t>* lookup(const Iface& f, const Name& n) const;
  void add_additionals(const Iface& f, std::vector<uint32_t>& answers, std::vector<uint32_t>& add,
                       std::vector<uint8_t>& mark) const;
  void send_multicast(Iface& f, uint8_t fam, std::vector<uint32_t> answers,
                      const std::vector<uint32_t>& additional, Duration min_interval, Time now,
                      std::vector<Packet>& out);
  void send_probes(Iface& f, uint8_t fam, const std::vector<int>& ids, std::vector<Packet>& out);
  void send_goodbyes(const std::vector<int>& ids, std::vector<Packet>& out);
  void emit(Message m, uint32_t ifindex, const Destination& dst, std::vector<Packet>& out,
            bool truncate_ok);

  const Options& opts_;
  Random& rnd_;
  Stats& stats_;
  Owner host_;
  std::vector<Service> services_;
  std::vector<Iface> ifaces_;
  std::unordered_map<Name, int> owned_names_;  // lower-cased unique name -> owner id
  std::deque<Time> conflict_times_;            // last conflicts (bounded), RFC 6762 8.1
  bool started_ = false;
};

}  // namespace portico::mdns
