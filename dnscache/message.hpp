#pragma once
// DNS message handling for the dnscache Engine, all wire work done by ldns:
// parsing client queries, pre-rendered responses (Response) that are patched per
// client (ID, flags, question case, TTLs, OPT, truncation), upstream queries and
// upstream reply validation. Stateless functions; used on the Engine's thread.

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dnscache/ldns_ptr.hpp"
#include "dnscache/types.hpp"

namespace portico::dnscache {

// ASCII lower-casing of one byte of a wire-form name, as ldns_dname2canonical
// does (label length bytes are < 64 and unaffected).
inline uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c; }

// Cache / coalescing key: lower-cased owner name (wire form), type, class and the
// DO and CD bits (a CD=1 answer may be unvalidated, so it is not shared with CD=0).
struct QuestionKey {
  std::string name;  // lower-cased uncompressed wire name
  uint16_t type = 0;
  uint16_t klass = 0;
  uint8_t flags = 0;  // kKeyDo | kKeyCd
  bool operator==(const QuestionKey&) const = default;
};
inline constexpr uint8_t kKeyDo = 1;
inline constexpr uint8_t kKeyCd = 2;

struct QuestionKeyHash {
  size_t operator()(const QuestionKey& k) const noexcept {
    size_t h = std::hash<std::string>{}(k.name);
    return h ^ ((static_cast<size_t>(k.type) << 24 | static_cast<size_t>(k.klass) << 8 | k.flags) *
                0x9e3779b97f4a7c15ULL);
  }
};

// What the engine needs to know about one client query to answer it later.
struct ClientQuery {
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool rd = false, cd = false, ad = false;
  bool has_edns = false, do_bit = false;
  uint8_t edns_version = 0;
  uint16_t reply_limit = 512;   // largest reply size this client accepts
  bool has_question = false;
  uint16_t qtype = 0, qclass = 0;
  uint8_t qname_len = 0;
  std::array<uint8_t, LDNS_MAX_DOMAINLEN + 1> qname{};  // as the client sent it (case kept)
  Transport transport = Transport::kUdp;

  std::span<const uint8_t> qname_wire() const { return {qname.data(), qname_len}; }
};

enum class QueryCheck : uint8_t {
  kOk,
  kDrop,     // not worth an answer (too short to echo an ID, or QR set)
  kFormErr,  // malformed, QDCOUNT != 1, oversized
  kNotImp,   // opcode other than QUERY
  kBadVers,  // EDNS version > 0
};

// ldns_wire2pkt (ldns 1.8.3) keeps only the last TSIG record, and the last OPT
// record's option data, of an additional section holding several, and leaks the
// earlier ones: a peer repeating such a packet would grow our memory at will.
// A message with more than one of either is malformed (RFC 6891 6.1.1, RFC 8945
// 5.1), so every ldns_wire2pkt call on bytes from the network asks this first.
// True when the additional section holds at most one OPT and at most one TSIG;
// false otherwise, and when the message ends inside a record (ldns would refuse
// it too). Names are stepped over, not decoded: a compression pointer ends one.
bool safe_for_ldns(std::span<const uint8_t> bytes);

// Parses and validates a client query. Fills `q` as far as possible (ID and
// flags are set whenever the result is not kDrop). The common shape is read by
// read_plain_query (no allocation); anything else is decided by ldns.
QueryCheck parse_client_query(std::span<const uint8_t> bytes, Transport transport,
                              uint16_t max_udp_payload, size_t max_query_size, ClientQuery& q);

// The allocation-free reader of the cache-hit path. It accepts only the plain
// shape of a query, exactly as ldns reads it: QDCOUNT 1, no answer or authority
// records, a question name of uncompressed labels (1..63 bytes, at most 255 in
// all), type and class, then nothing or one OPT record (root owner, version 0,
// UDP size >= 512, well-formed options) ending the packet. The caller has
// checked the header (size, QR, opcode). True with the question, EDNS fields and
// reply_limit of `q` set; false (q's question part undefined) for anything else,
// which parse_client_query then hands to ldns: two questions, a compression
// pointer, extended label types, other records, trailing bytes, EDNS version > 0.
bool read_plain_query(std::span<const uint8_t> bytes, Transport transport, uint16_t max_udp_payload,
                      ClientQuery& q);

// parse_client_query without the fast reader (ldns for every query): the
// reference the fast reader is tested against.
QueryCheck parse_client_query_ldns(std::span<const uint8_t> bytes, Transport transport,
                                   uint16_t max_udp_payload, size_t max_query_size, ClientQuery& q);

// Lower-cased key of the query's question.
void make_key(const ClientQuery& q, QuestionKey& key);

// A reply rendered once by ldns (ID 0, no OPT record) plus the offsets of every
// TTL, so each client gets a copy patched in place (the TTLs as rendered, already
// clamped, stay in `wire` and are read from there).
struct Response {
  std::vector<uint8_t> wire;
  std::vector<uint16_t> ttl_offsets;
  uint16_t question_end = 0;   // offset just past the question section
  uint8_t qname_len = 0;
  uint8_t rcode = 0;
  bool aa = false;
  bool ad = false;
};

// Renders `pkt` (any ID/question case; its EDNS data is ignored) into `out`.
// False when ldns cannot render it or it exceeds 65535 bytes.
bool response_from_pkt(const ldns_pkt* pkt, Response& out);

// Pre-rendered OPT records this server appends to replies (DO clear / set).
struct OptRecords {
  std::vector<uint8_t> plain;
  std::vector<uint8_t> with_do;
};
OptRecords make_opt_records(uint16_t udp_size);

struct RenderTtl {
  uint32_t age_s = 0;        // seconds since the response was stored
  bool stale = false;        // if set every TTL becomes stale_ttl
  uint32_t stale_ttl = 30;
};

// Writes the client's copy of `r` into `out`: client ID, RD/CD from the query, AD
// only if the client asked (AD or DO), the client's question-name bytes, TTLs
// counted down, OPT if the client used EDNS. If it does not fit q.reply_limit the
// reply is cut to header + question (+ OPT) with TC set. Returns true if truncated.
bool render_response(const Response& r, const ClientQuery& q, const RenderTtl& ttl,
                     const OptRecords& opt, std::vector<uint8_t>& out);

// An answer without records (errors, REFUSED, SERVFAIL, NOTIMP, FORMERR, BADVERS)
// echoing whatever of the question `q` holds.
void render_error(const ClientQuery& q, uint16_t rcode, uint16_t edns_udp_size,
                  std::vector<uint8_t>& out);

// Upstream query for `key` with ID `id`: RD set, AD set, CD per key, EDNS with DO per key.
bool build_upstream_query(const QuestionKey& key, uint16_t id, uint16_t edns_size,
                          std::vector<uint8_t>& out);

// ldns name from a wire-form name (no compression).
RdfPtr name_rdf(std::span<const uint8_t> wire);

enum class ReplyCheck : uint8_t { kOk, kMalformed, kMismatch };

// Parses an upstream reply and checks QR, opcode, ID and question (name compared
// case-insensitively, type, class) against what was sent.
ReplyCheck parse_upstream_reply(std::span<const uint8_t> bytes, uint16_t id,
                                const QuestionKey& key, PktPtr& out);

}  // namespace portico::dnscache
