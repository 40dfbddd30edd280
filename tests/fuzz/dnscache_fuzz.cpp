// libFuzzer target for the dnscache Engine: each input is fed as a client query
// (UDP and TCP), as an upstream reply (raw with the right ID, and as the sections
// of a reply to the engine's real question), then the cached result is served.
// Invariants: no crash, no leak, every client reply parses with ldns, and the
// allocation-free query reader agrees with the ldns one on every input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "dnscache/engine.hpp"
#include "dnscache/ldns_ptr.hpp"
#include "dnscache/message.hpp"

namespace {

using portico::dnscache::Actions;
using portico::dnscache::ClientQuery;
using portico::dnscache::QueryCheck;
using portico::dnscache::Engine;
using portico::dnscache::Options;
using portico::dnscache::Peer;
using portico::dnscache::SeededRandom;
using portico::dnscache::Send;
using portico::dnscache::SendKind;
using portico::dnscache::Time;
using portico::dnscache::Transport;

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* s = reinterpret_cast<sockaddr_in*>(&ss);
  s->sin_family = AF_INET;
  s->sin_port = htons(port);
  inet_pton(AF_INET, ip, &s->sin_addr);
  return ss;
}

Peer client(Transport t) {
  Peer p;
  p.addr = v4("127.0.0.1", 40000);
  p.len = sizeof(sockaddr_in);
  p.transport = t;
  return p;
}

// Client replies must always be well-formed DNS.
void check_client_replies(const Actions& out) {
  for (const Send& s : out.sends()) {
    if (s.kind != SendKind::kToClient) continue;
    ldns_pkt* p = nullptr;
    if (ldns_wire2pkt(&p, s.bytes.data(), s.bytes.size()) != LDNS_STATUS_OK) std::abort();
    if (s.to.transport == Transport::kUdp && s.bytes.size() > 1232) std::abort();
    ldns_pkt_free(p);
  }
}

// parse_client_query (plain reader first) and the ldns-only reader must agree.
void check_readers_agree(std::span<const uint8_t> input, Transport t) {
  ClientQuery a, b;
  const QueryCheck ra = portico::dnscache::parse_client_query(input, t, 1232, 4096, a);
  const QueryCheck rb = portico::dnscache::parse_client_query_ldns(input, t, 1232, 4096, b);
  if (ra != rb || a.id != b.id || a.rd != b.rd || a.cd != b.cd || a.ad != b.ad ||
      a.has_question != b.has_question || a.has_edns != b.has_edns || a.do_bit != b.do_bit ||
      a.edns_version != b.edns_version || a.reply_limit != b.reply_limit) {
    std::abort();
  }
  if (a.has_question && (a.qtype != b.qtype || a.qclass != b.qclass || a.qname_len != b.qname_len ||
                         std::memcmp(a.qname.data(), b.qname.data(), a.qname_len) != 0)) {
    std::abort();
  }
}

std::vector<uint8_t> question_query(uint16_t id, uint16_t udp, bool do_bit) {
  ldns_pkt* p = ldns_pkt_query_new(ldns_dname_new_frm_str("Fuzz.Example."), LDNS_RR_TYPE_A,
                                   LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(p, id);
  if (udp) {
    ldns_pkt_set_edns_udp_size(p, udp);
    ldns_pkt_set_edns_do(p, do_bit);
  }
  uint8_t* w = nullptr;
  size_t n = 0;
  ldns_pkt2wire(&w, p, &n);
  std::vector<uint8_t> v(w, w + n);
  LDNS_FREE(w);
  ldns_pkt_free(p);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Options o;
  o.upstreams = {v4("127.0.0.53", 53)};
  o.records = {"local.example. 300 IN A 127.0.0.1", "alias.local.example. 300 IN CNAME local.example."};
  o.serve_stale = std::chrono::seconds(3600);
  SeededRandom rng(size);
  std::string err;
  std::unique_ptr<Engine> engine = Engine::create(o, rng, err);
  if (!engine) std::abort();
  Actions out;
  Time now = std::chrono::seconds(100);
  const std::span<const uint8_t> input(data, size);

  // 1. As a client query, over UDP and TCP.
  check_readers_agree(input, Transport::kUdp);
  check_readers_agree(input, Transport::kTcp);
  engine->on_client_query(input, client(Transport::kUdp), now, out);
  check_client_replies(out);
  engine->on_client_query(input, client(Transport::kTcp), now, out);
  check_client_replies(out);

  // 2. As an upstream reply to a real outstanding question.
  const bool structured = size > 0 && (data[0] & 1);
  const uint8_t flags = size > 1 ? data[1] : 0;
  const bool do_bit = flags & 0x40;
  engine->on_client_query(question_query(7, (flags & 0x80) ? 1232 : 0, do_bit), client(Transport::kUdp), now, out);
  if (out.sends().size() != 1 || out.sends()[0].kind != SendKind::kToUpstreamUdp) std::abort();
  const Send up = out.sends()[0];
  std::vector<uint8_t> reply;
  if (structured && size >= 8) {
    // Header and question of the real query, fuzzer-chosen flags, counts and sections.
    size_t qend = 12;
    while (qend < up.bytes.size() && up.bytes[qend] != 0) qend += up.bytes[qend] + 1;
    qend += 5;
    reply.assign(up.bytes.begin(), up.bytes.begin() + static_cast<std::ptrdiff_t>(qend));
    reply[2] = static_cast<uint8_t>(0x80 | (data[2] & 0x07));  // QR, keep opcode 0
    reply[3] = data[3];
    reply[6] = 0;
    reply[7] = data[4] & 0x3f;
    reply[8] = 0;
    reply[9] = data[5] & 0x3f;
    reply[10] = 0;
    reply[11] = data[6] & 0x3f;
    reply.insert(reply.end(), data + 7, data + size);
  } else {
    reply.assign(data, data + size);
    if (reply.size() >= 2) {
      reply[0] = up.bytes[0];
      reply[1] = up.bytes[1];
    }
  }
  engine->on_upstream_reply(reply, up.to, up.token, now, out);
  check_client_replies(out);
  for (const Send& s : out.sends()) {
    if (s.kind == SendKind::kToUpstreamTcp) {  // TC: answer the TCP retry with the same bytes
      std::vector<uint8_t> again = reply;
      if (again.size() >= 2) {
        again[0] = s.bytes[0];
        again[1] = s.bytes[1];
      }
      Actions tcp_out;
      engine->on_upstream_reply(again, s.to, s.token, now, tcp_out);
      check_client_replies(tcp_out);
    }
  }

  // 3. Served from cache (small and large EDNS), then stale, then timers drain.
  now += std::chrono::seconds(1);
  engine->on_client_query(question_query(8, 512, do_bit), client(Transport::kUdp), now, out);
  check_client_replies(out);
  engine->on_client_query(question_query(9, 0, do_bit), client(Transport::kTcp), now, out);
  check_client_replies(out);
  for (int i = 0; i < 4 && out.next_wakeup != portico::dnscache::kNever; ++i) {
    now = std::max(now, out.next_wakeup);
    engine->on_timer(now, out);
    check_client_replies(out);
  }
  return 0;
}
