#pragma once
// Helpers for the dnscache unit tests: loopback addresses, query/reply packets
// built with ldns, and a Harness holding an Engine with a fake clock.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <doctest/doctest.h>

#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "dnscache/engine.hpp"
#include "dnscache/ldns_ptr.hpp"

namespace portico::dnscache::test {

using namespace std::chrono_literals;

inline sockaddr_storage addr(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  if (std::strchr(ip, ':')) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &s6->sin6_addr);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    inet_pton(AF_INET, ip, &s4->sin_addr);
  }
  return ss;
}

inline Peer peer(const char* ip, uint16_t port, Transport t = Transport::kUdp, uint64_t conn = 0) {
  Peer p;
  p.addr = addr(ip, port);
  p.len = p.addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  p.transport = t;
  p.conn_id = conn;
  return p;
}

inline Options base_options() {
  Options o;
  o.upstreams = {addr("127.0.0.53", 53), addr("127.0.0.54", 53)};
  o.explore_percent = 0;  // deterministic choice unless a test wants exploration
  return o;
}

struct QueryOpts {
  uint16_t id = 0x1234;
  bool edns = false;
  uint16_t udp_size = 1232;
  bool do_bit = false;
  bool cd = false;
  bool ad = false;
  bool rd = true;
};

// Raw bytes written as small integers (each taken mod 256).
inline std::vector<uint8_t> bytes_of(std::initializer_list<int> b) {
  std::vector<uint8_t> v;
  for (int x : b) v.push_back(static_cast<uint8_t>(x));
  return v;
}

// A TSIG record at the root with no data, as raw bytes (ldns_wire2pkt leaks all
// but the last of several: see safe_for_ldns).
inline const std::vector<uint8_t> kTsigRecord = {0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0};

// Appends `rr` (raw record bytes) `n` times to the additional section of the
// message in `msg`, which must end with that section, and counts them in ARCOUNT.
inline void append_additional(std::vector<uint8_t>& msg, const std::vector<uint8_t>& rr, int n = 1) {
  REQUIRE(msg.size() >= 12);
  for (int i = 0; i < n; ++i) msg.insert(msg.end(), rr.begin(), rr.end());
  const unsigned arcount = (unsigned(msg[10]) << 8 | msg[11]) + unsigned(n);
  msg[10] = static_cast<uint8_t>(arcount >> 8);
  msg[11] = static_cast<uint8_t>(arcount);
}

inline std::vector<uint8_t> to_wire(const ldns_pkt* p) {
  uint8_t* w = nullptr;
  size_t n = 0;
  REQUIRE(ldns_pkt2wire(&w, p, &n) == LDNS_STATUS_OK);
  std::vector<uint8_t> v(w, w + n);
  LDNS_FREE(w);
  return v;
}

inline std::vector<uint8_t> make_query(const std::string& name, ldns_rr_type type, QueryOpts o = {}) {
  ldns_rdf* n = ldns_dname_new_frm_str(name.c_str());
  REQUIRE(n != nullptr);
  PktPtr p(ldns_pkt_query_new(n, type, LDNS_RR_CLASS_IN, o.rd ? LDNS_RD : 0));
  ldns_pkt_set_id(p.get(), o.id);
  ldns_pkt_set_cd(p.get(), o.cd);
  ldns_pkt_set_ad(p.get(), o.ad);
  if (o.edns) {
    ldns_pkt_set_edns_udp_size(p.get(), o.udp_size);
    ldns_pkt_set_edns_do(p.get(), o.do_bit);
  }
  return to_wire(p.get());
}

inline PktPtr parse(std::span<const uint8_t> bytes) {
  ldns_pkt* p = nullptr;
  REQUIRE(ldns_wire2pkt(&p, bytes.data(), bytes.size()) == LDNS_STATUS_OK);
  return PktPtr(p);
}

inline ldns_rr* rr(const std::string& text) {
  ldns_rr* r = nullptr;
  REQUIRE(ldns_rr_new_frm_str(&r, text.c_str(), 3600, nullptr, nullptr) == LDNS_STATUS_OK);
  return r;
}

struct ReplyOpts {
  uint8_t rcode = LDNS_RCODE_NOERROR;
  bool tc = false;
  bool ad = false;
  int id = -1;  // override the ID
};

// An upstream reply to `query_wire` (the engine's upstream query) with records.
inline std::vector<uint8_t> make_reply(std::span<const uint8_t> query_wire,
                                       std::initializer_list<std::string> answer,
                                       std::initializer_list<std::string> authority = {},
                                       ReplyOpts o = {}) {
  PktPtr q = parse(query_wire);
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_id(p.get(), o.id >= 0 ? static_cast<uint16_t>(o.id) : ldns_pkt_id(q.get()));
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_rd(p.get(), true);
  ldns_pkt_set_ra(p.get(), true);
  ldns_pkt_set_tc(p.get(), o.tc);
  ldns_pkt_set_ad(p.get(), o.ad);
  ldns_pkt_set_rcode(p.get(), o.rcode);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q.get()), 0)));
  for (const auto& a : answer) ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, rr(a));
  for (const auto& a : authority) ldns_pkt_push_rr(p.get(), LDNS_SECTION_AUTHORITY, rr(a));
  if (ldns_pkt_edns(q.get())) {
    ldns_pkt_set_edns_udp_size(p.get(), 1232);
    ldns_pkt_set_edns_do(p.get(), ldns_pkt_edns_do(q.get()));
  }
  return to_wire(p.get());
}

// Section `s` of a parsed reply as presentation strings ("name ttl IN type rdata").
inline std::vector<std::string> section(const ldns_pkt* p, ldns_pkt_section s) {
  const ldns_rr_list* l = s == LDNS_SECTION_ANSWER      ? ldns_pkt_answer(p)
                          : s == LDNS_SECTION_AUTHORITY ? ldns_pkt_authority(p)
                          : s == LDNS_SECTION_QUESTION  ? ldns_pkt_question(p)
                                                        : ldns_pkt_additional(p);
  std::vector<std::string> out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(l); ++i) {
    char* t = ldns_rr2str(ldns_rr_list_rr(l, i));
    std::string str(t);
    LDNS_FREE(t);
    while (!str.empty() && str.back() == '\n') str.pop_back();
    for (auto& c : str) if (c == '\t') c = ' ';
    out.push_back(str);
  }
  return out;
}

inline uint32_t first_ttl(const ldns_pkt* p, ldns_pkt_section s = LDNS_SECTION_ANSWER) {
  const ldns_rr_list* l = s == LDNS_SECTION_ANSWER ? ldns_pkt_answer(p) : ldns_pkt_authority(p);
  REQUIRE(ldns_rr_list_rr_count(l) > 0);
  return ldns_rr_ttl(ldns_rr_list_rr(l, 0));
}

// An Engine plus a fake clock and the last Actions.
struct Harness {
  explicit Harness(Options o = base_options(), uint64_t seed = 1) : rng(seed) {
    std::string err;
    engine = Engine::create(std::move(o), rng, err);
    INFO(err);
    REQUIRE(engine != nullptr);
  }

  Actions& query(const std::vector<uint8_t>& bytes, const Peer& from = peer("127.0.0.1", 40000)) {
    engine->on_client_query(bytes, from, now, out);
    return out;
  }
  Actions& ask(const std::string& name, ldns_rr_type type, QueryOpts o = {},
               const Peer& from = peer("127.0.0.1", 40000)) {
    return query(make_query(name, type, o), from);
  }
  Actions& reply(const Send& to, const std::vector<uint8_t>& bytes) {
    Peer from = to.to;
    engine->on_upstream_reply(bytes, from, to.token, now, out);
    return out;
  }
  Actions& reply_from(const Peer& from, uint32_t token, const std::vector<uint8_t>& bytes) {
    engine->on_upstream_reply(bytes, from, token, now, out);
    return out;
  }
  Actions& tick() {
    engine->on_timer(now, out);
    return out;
  }
  // The single send of the last call, checked to be of `kind`.
  Send only(SendKind kind) {
    REQUIRE(out.sends().size() == 1);
    REQUIRE(out.sends()[0].kind == kind);
    return out.sends()[0];
  }
  PktPtr only_client_reply() { return parse(only(SendKind::kToClient).bytes); }

  // Full round trip: client asks, upstream answers with `answer`; returns the client's reply.
  PktPtr resolve(const std::string& name, ldns_rr_type type, std::initializer_list<std::string> answer,
                 std::initializer_list<std::string> authority = {}, ReplyOpts ro = {}, QueryOpts qo = {}) {
    ask(name, type, qo);
    Send up = only(SendKind::kToUpstreamUdp);
    reply(up, make_reply(up.bytes, answer, authority, ro));
    return only_client_reply();
  }

  SeededRandom rng;
  std::unique_ptr<Engine> engine;
  Actions out;
  Time now{std::chrono::seconds(1000)};
};

// Caches big.example.com A as `n` records (10.0.x.y), answered by the upstream
// to a first query.
inline void cache_many(Harness& h, int n) {
  h.ask("big.example.com.", LDNS_RR_TYPE_A);
  Send up = h.only(SendKind::kToUpstreamUdp);
  PktPtr q = parse(up.bytes);
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_id(p.get(), ldns_pkt_id(q.get()));
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q.get()), 0)));
  for (int i = 0; i < n; ++i) {
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER,
                     rr("big.example.com. 300 IN A 10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)));
  }
  h.reply(up, to_wire(p.get()));
  REQUIRE(h.out.sends().size() == 1);
}

}  // namespace portico::dnscache::test
