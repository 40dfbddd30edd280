#include "dnscache/message.hpp"

#include <algorithm>
#include <cstring>

namespace portico::dnscache {
namespace {

bool walk_records(std::span<const uint8_t> bytes, bool query);  // below

bool to_vector(const ldns_pkt* pkt, std::vector<uint8_t>& out) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK) return false;
  WirePtr owned(wire);
  if (size > LDNS_MAX_PACKETLEN) return false;
  out.assign(wire, wire + size);
  return true;
}

}  // namespace

RdfPtr name_rdf(std::span<const uint8_t> wire) {
  return RdfPtr(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, wire.size(), wire.data()));
}

namespace {

// Header checks shared by both readers; kOk means "read the rest".
QueryCheck check_header(std::span<const uint8_t> bytes, Transport transport, size_t max_query_size,
                        ClientQuery& q) {
  q.has_question = false;
  q.has_edns = false;
  q.do_bit = false;
  q.edns_version = 0;
  q.qname_len = 0;
  q.transport = transport;
  q.reply_limit = transport == Transport::kTcp ? LDNS_MAX_PACKETLEN : 512;
  if (bytes.size() < LDNS_HEADER_SIZE) return QueryCheck::kDrop;
  const uint8_t* w = bytes.data();
  if (LDNS_QR_WIRE(w)) return QueryCheck::kDrop;  // a response: never answer (loops)
  q.id = LDNS_ID_WIRE(w);
  q.opcode = static_cast<uint8_t>(LDNS_OPCODE_WIRE(w));
  q.rd = LDNS_RD_WIRE(w) != 0;
  q.cd = LDNS_CD_WIRE(w) != 0;
  q.ad = LDNS_AD_WIRE(w) != 0;
  if (bytes.size() > max_query_size) return QueryCheck::kFormErr;
  if (q.opcode != LDNS_PACKET_QUERY) return QueryCheck::kNotImp;
  return QueryCheck::kOk;
}

uint16_t udp_reply_limit(uint16_t advertised, uint16_t max_udp_payload) {
  const uint16_t cap = std::max<uint16_t>(512, max_udp_payload);
  return std::clamp<uint16_t>(advertised, 512, cap);
}

QueryCheck read_with_ldns(std::span<const uint8_t> bytes, Transport transport, uint16_t max_udp_payload,
                          ClientQuery& q) {
  const uint8_t* w = bytes.data();
  // RFC 6891 6.1.1: more than one OPT RR is FORMERR (and ldns would leak it);
  // and what ldns lets through but a query may not hold (see walk_records).
  if (!walk_records(bytes, true)) return QueryCheck::kFormErr;
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, w, bytes.size()) != LDNS_STATUS_OK) return QueryCheck::kFormErr;
  PktPtr pkt(raw);
  const ldns_rr_list* question = ldns_pkt_question(pkt.get());
  if (ldns_pkt_qdcount(pkt.get()) != 1 || ldns_rr_list_rr_count(question) != 1) {
    return QueryCheck::kFormErr;
  }
  const ldns_rr* qrr = ldns_rr_list_rr(question, 0);
  const ldns_rdf* owner = ldns_rr_owner(qrr);
  if (!owner || ldns_rdf_size(owner) == 0 || ldns_rdf_size(owner) > LDNS_MAX_DOMAINLEN) {
    return QueryCheck::kFormErr;
  }
  q.qname_len = static_cast<uint8_t>(ldns_rdf_size(owner));
  std::memcpy(q.qname.data(), ldns_rdf_data(owner), q.qname_len);
  q.qtype = ldns_rr_get_type(qrr);
  q.qclass = ldns_rr_get_class(qrr);
  q.has_question = true;

  if (ldns_pkt_edns(pkt.get())) {
    q.has_edns = true;
    q.do_bit = ldns_pkt_edns_do(pkt.get());
    q.edns_version = ldns_pkt_edns_version(pkt.get());
    if (transport == Transport::kUdp) q.reply_limit = udp_reply_limit(ldns_pkt_edns_udp_size(pkt.get()), max_udp_payload);
    if (q.edns_version != 0) return QueryCheck::kBadVers;
  }
  return QueryCheck::kOk;
}

}  // namespace

namespace {

// Steps over every record of a message (names are stepped over, not
// decoded). Always: at most one OPT and one TSIG in the additional section,
// and no record running past the end. `query` adds what a query must also
// respect, where ldns is lenient: no compression pointer in the question
// (the first name has nothing before it to point to), pointers only
// backwards, OPT only in the additional section with the root as owner (RFC
// 6891 6.1.2), TSIG last (RFC 8945 5.1), and no bytes after the last record.
bool walk_records(std::span<const uint8_t> bytes, bool query) {
  const uint8_t* w = bytes.data();
  const size_t size = bytes.size();
  if (size < LDNS_HEADER_SIZE) return false;
  size_t pos = LDNS_HEADER_SIZE;
  auto skip_name = [&](bool pointers) {
    const size_t start = pos;
    while (pos < size) {
      const uint8_t len = w[pos];
      if ((len & 0xC0) == 0xC0) {  // a compression pointer ends the name
        if (pos + 2 > size || !pointers) return false;
        if (query && ((size_t{len & 0x3Fu} << 8) | w[pos + 1]) >= start) return false;
        pos += 2;
        return true;
      }
      if (len & 0xC0) return false;  // extended label types: ldns refuses them too
      pos += 1u + len;
      if (len == 0) return true;
    }
    return false;
  };
  for (unsigned i = 0; i < LDNS_QDCOUNT(w); ++i) {
    if (!skip_name(!(query && i == 0)) || (pos += 4) > size) return false;
  }
  const unsigned before_additional = unsigned(LDNS_ANCOUNT(w)) + LDNS_NSCOUNT(w);
  const unsigned records = before_additional + LDNS_ARCOUNT(w);
  unsigned opts = 0, tsigs = 0;
  for (unsigned i = 0; i < records; ++i) {
    const size_t owner = pos;
    if (!skip_name(true) || pos + 10 > size) return false;
    const bool root_owner = pos == owner + 1;
    const uint16_t type = ldns_read_uint16(w + pos);
    pos += 10 + ldns_read_uint16(w + pos + 8);  // type, class, TTL, RDLENGTH, then the data
    if (pos > size) return false;
    if (query && tsigs > 0) return false;  // something after the TSIG
    if (i < before_additional) {
      if (query && type == LDNS_RR_TYPE_OPT) return false;
      continue;
    }
    if (type == LDNS_RR_TYPE_OPT && (++opts > 1 || (query && !root_owner))) return false;
    if (type == LDNS_RR_TYPE_TSIG && ++tsigs > 1) return false;
  }
  return !query || pos == size;
}

}  // namespace

bool safe_for_ldns(std::span<const uint8_t> bytes) { return walk_records(bytes, false); }

bool read_plain_query(std::span<const uint8_t> bytes, Transport transport, uint16_t max_udp_payload,
                      ClientQuery& q) {
  const uint8_t* w = bytes.data();
  const size_t size = bytes.size();
  if (size < LDNS_HEADER_SIZE || ldns_read_uint16(w + LDNS_QDCOUNT_OFF) != 1 ||
      ldns_read_uint16(w + LDNS_ANCOUNT_OFF) != 0 || ldns_read_uint16(w + LDNS_NSCOUNT_OFF) != 0) {
    return false;
  }
  const uint16_t arcount = ldns_read_uint16(w + LDNS_ARCOUNT_OFF);
  if (arcount > 1) return false;
  // QNAME: length-prefixed labels up to the root label; no pointers (>= 0xc0)
  // and no extended label types (0x40, 0x80): those go to ldns.
  size_t pos = LDNS_HEADER_SIZE;
  for (;;) {
    if (pos >= size) return false;
    const uint8_t len = w[pos];
    if (len > LDNS_MAX_LABELLEN) return false;
    pos += 1 + size_t{len};
    if (pos - LDNS_HEADER_SIZE > LDNS_MAX_DOMAINLEN) return false;
    if (len == 0) break;
  }
  const size_t name_len = pos - LDNS_HEADER_SIZE;
  if (pos + 4 > size) return false;
  const uint16_t qtype = ldns_read_uint16(w + pos);
  const uint16_t qclass = ldns_read_uint16(w + pos + 2);
  pos += 4;
  bool has_edns = false, do_bit = false;
  uint16_t udp_size = 0;
  if (arcount == 1) {
    // OPT: root owner, TYPE 41, CLASS = UDP size, TTL = ext-rcode, version,
    // DO + Z; RDLENGTH; options (code, length, data) filling RDATA exactly.
    if (pos + 11 > size || w[pos] != 0 || ldns_read_uint16(w + pos + 1) != LDNS_RR_TYPE_OPT) return false;
    udp_size = ldns_read_uint16(w + pos + 3);
    const uint8_t version = w[pos + 6];
    do_bit = (w[pos + 7] & 0x80) != 0;
    const size_t rdlen = ldns_read_uint16(w + pos + 9);
    pos += 11;
    if (version != 0 || udp_size < 512 || pos + rdlen != size) return false;
    for (size_t o = pos; o < size;) {
      if (o + 4 > size) return false;
      o += 4 + size_t{ldns_read_uint16(w + o + 2)};
      if (o > size) return false;
    }
    pos = size;
    has_edns = true;
  }
  if (pos != size) return false;

  std::memcpy(q.qname.data(), w + LDNS_HEADER_SIZE, name_len);
  q.qname_len = static_cast<uint8_t>(name_len);
  q.qtype = qtype;
  q.qclass = qclass;
  q.has_question = true;
  q.has_edns = has_edns;
  q.do_bit = do_bit;
  q.edns_version = 0;
  if (has_edns && transport == Transport::kUdp) q.reply_limit = udp_reply_limit(udp_size, max_udp_payload);
  return true;
}

QueryCheck parse_client_query(std::span<const uint8_t> bytes, Transport transport,
                              uint16_t max_udp_payload, size_t max_query_size, ClientQuery& q) {
  const QueryCheck head = check_header(bytes, transport, max_query_size, q);
  if (head != QueryCheck::kOk) return head;
  if (read_plain_query(bytes, transport, max_udp_payload, q)) return QueryCheck::kOk;
  q.has_question = false;
  q.qname_len = 0;
  return read_with_ldns(bytes, transport, max_udp_payload, q);
}

QueryCheck parse_client_query_ldns(std::span<const uint8_t> bytes, Transport transport,
                                   uint16_t max_udp_payload, size_t max_query_size, ClientQuery& q) {
  const QueryCheck head = check_header(bytes, transport, max_query_size, q);
  if (head != QueryCheck::kOk) return head;
  return read_with_ldns(bytes, transport, max_udp_payload, q);
}

void make_key(const ClientQuery& q, QuestionKey& key) {
  key.name.resize(q.qname_len);
  for (size_t i = 0; i < q.qname_len; ++i) key.name[i] = static_cast<char>(ascii_lower(q.qname[i]));
  key.type = q.qtype;
  key.klass = q.qclass;
  key.flags = static_cast<uint8_t>((q.do_bit ? kKeyDo : 0) | (q.cd ? kKeyCd : 0));
}

bool response_from_pkt(const ldns_pkt* pkt, Response& out) {
  out.ttl_offsets.clear();
  if (!to_vector(pkt, out.wire)) return false;
  out.rcode = ldns_pkt_get_rcode(pkt) & 0x0f;
  out.aa = ldns_pkt_aa(pkt);
  out.ad = ldns_pkt_ad(pkt);
  const uint8_t* w = out.wire.data();
  const size_t size = out.wire.size();
  if (size < LDNS_HEADER_SIZE || ldns_read_uint16(w + LDNS_QDCOUNT_OFF) != 1) return false;

  size_t pos = LDNS_HEADER_SIZE;
  ldns_rdf* qname = nullptr;
  if (ldns_wire2dname(&qname, w, size, &pos) != LDNS_STATUS_OK) return false;
  out.qname_len = static_cast<uint8_t>(ldns_rdf_size(qname));
  ldns_rdf_deep_free(qname);
  if (pos + 4 > size) return false;
  pos += 4;
  out.question_end = static_cast<uint16_t>(pos);

  const ldns_pkt_section sections[] = {LDNS_SECTION_ANSWER, LDNS_SECTION_AUTHORITY,
                                       LDNS_SECTION_ADDITIONAL};
  const size_t count_offsets[] = {LDNS_ANCOUNT_OFF, LDNS_NSCOUNT_OFF, LDNS_ARCOUNT_OFF};
  for (int s = 0; s < 3; ++s) {
    const uint16_t count = ldns_read_uint16(w + count_offsets[s]);
    for (uint16_t i = 0; i < count; ++i) {
      // Owner name first (ldns follows compression), then TYPE CLASS TTL RDLENGTH.
      size_t fixed = pos;
      ldns_rdf* owner = nullptr;
      if (ldns_wire2dname(&owner, w, size, &fixed) != LDNS_STATUS_OK) return false;
      ldns_rdf_deep_free(owner);
      ldns_rr* rr = nullptr;
      if (ldns_wire2rr(&rr, w, size, &pos, sections[s]) != LDNS_STATUS_OK) return false;
      const bool is_opt = ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT;
      ldns_rr_free(rr);
      if (is_opt) continue;
      out.ttl_offsets.push_back(static_cast<uint16_t>(fixed + 4));
    }
  }
  return true;
}

OptRecords make_opt_records(uint16_t udp_size) {
  OptRecords o;
  for (bool do_bit : {false, true}) {
    RrPtr rr(ldns_rr_new());
    ldns_rr_set_owner(rr.get(), ldns_dname_new_frm_str("."));
    ldns_rr_set_type(rr.get(), LDNS_RR_TYPE_OPT);
    ldns_rr_set_class(rr.get(), static_cast<ldns_rr_class>(udp_size));
    ldns_rr_set_ttl(rr.get(), do_bit ? 0x8000 : 0);  // ext-rcode 0, version 0, DO
    uint8_t* wire = nullptr;
    size_t size = 0;
    if (ldns_rr2wire(&wire, rr.get(), LDNS_SECTION_ADDITIONAL, &size) == LDNS_STATUS_OK) {
      WirePtr owned(wire);
      (do_bit ? o.with_do : o.plain).assign(wire, wire + size);
    }
  }
  return o;
}

bool render_response(const Response& r, const ClientQuery& q, const RenderTtl& ttl,
                     const OptRecords& opt, std::vector<uint8_t>& out) {
  out.resize(r.wire.size());
  std::memcpy(out.data(), r.wire.data(), r.wire.size());
  uint8_t* w = out.data();
  LDNS_ID_SET(w, q.id);
  w[2] = static_cast<uint8_t>(LDNS_QR_MASK | (r.aa ? LDNS_AA_MASK : 0) | (q.rd ? LDNS_RD_MASK : 0));
  w[3] = static_cast<uint8_t>(LDNS_RA_MASK | ((r.ad && (q.ad || q.do_bit)) ? LDNS_AD_MASK : 0) |
                              (q.cd ? LDNS_CD_MASK : 0) | r.rcode);
  if (q.qname_len == r.qname_len) {
    std::memcpy(w + LDNS_HEADER_SIZE, q.qname.data(), q.qname_len);
  }
  for (const uint16_t off : r.ttl_offsets) {
    const uint32_t stored = ldns_read_uint32(w + off);
    ldns_write_uint32(w + off, ttl.stale ? ttl.stale_ttl : (stored > ttl.age_s ? stored - ttl.age_s : 0));
  }
  const std::vector<uint8_t>& o = q.do_bit ? opt.with_do : opt.plain;
  if (q.has_edns) {
    out.insert(out.end(), o.begin(), o.end());
    w = out.data();
    ldns_write_uint16(w + LDNS_ARCOUNT_OFF, static_cast<uint16_t>(ldns_read_uint16(w + LDNS_ARCOUNT_OFF) + 1));
  }
  if (out.size() <= q.reply_limit) return false;

  // Does not fit: header + question (+ OPT), TC set; the client retries over TCP.
  out.resize(r.question_end);
  w = out.data();
  LDNS_TC_SET(w);
  ldns_write_uint16(w + LDNS_ANCOUNT_OFF, 0);
  ldns_write_uint16(w + LDNS_NSCOUNT_OFF, 0);
  ldns_write_uint16(w + LDNS_ARCOUNT_OFF, q.has_edns ? 1 : 0);
  if (q.has_edns) out.insert(out.end(), o.begin(), o.end());
  return true;
}

void render_error(const ClientQuery& q, uint16_t rcode, uint16_t edns_udp_size,
                  std::vector<uint8_t>& out) {
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_id(p.get(), q.id);
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_opcode(p.get(), static_cast<ldns_pkt_opcode>(q.opcode));
  ldns_pkt_set_rd(p.get(), q.rd);
  ldns_pkt_set_cd(p.get(), q.cd);
  ldns_pkt_set_ra(p.get(), true);
  ldns_pkt_set_rcode(p.get(), static_cast<uint8_t>(rcode & 0x0f));
  if (q.has_question) {
    ldns_rr* rr = ldns_rr_new();
    ldns_rr_set_owner(rr, name_rdf(q.qname_wire()).release());
    ldns_rr_set_type(rr, static_cast<ldns_rr_type>(q.qtype));
    ldns_rr_set_class(rr, static_cast<ldns_rr_class>(q.qclass));
    ldns_rr_set_question(rr, true);
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, rr);
  }
  if (q.has_edns) {
    ldns_pkt_set_edns_udp_size(p.get(), edns_udp_size);
    ldns_pkt_set_edns_do(p.get(), q.do_bit);
    ldns_pkt_set_edns_extended_rcode(p.get(), static_cast<uint8_t>(rcode >> 4));
  }
  if (!to_vector(p.get(), out)) out.clear();
}

bool build_upstream_query(const QuestionKey& key, uint16_t id, uint16_t edns_size,
                          std::vector<uint8_t>& out) {
  RdfPtr name = name_rdf({reinterpret_cast<const uint8_t*>(key.name.data()), key.name.size()});
  if (!name) return false;
  uint16_t flags = LDNS_RD | LDNS_AD;
  if (key.flags & kKeyCd) flags |= LDNS_CD;
  PktPtr p(ldns_pkt_query_new(name.release(), static_cast<ldns_rr_type>(key.type),
                              static_cast<ldns_rr_class>(key.klass), flags));
  if (!p) return false;
  ldns_pkt_set_id(p.get(), id);
  ldns_pkt_set_edns_udp_size(p.get(), edns_size);
  ldns_pkt_set_edns_do(p.get(), (key.flags & kKeyDo) != 0);
  return to_vector(p.get(), out);
}

ReplyCheck parse_upstream_reply(std::span<const uint8_t> bytes, uint16_t id,
                                const QuestionKey& key, PktPtr& out) {
  out.reset();
  if (bytes.size() < LDNS_HEADER_SIZE) return ReplyCheck::kMalformed;
  if (LDNS_ID_WIRE(bytes.data()) != id) return ReplyCheck::kMismatch;
  if (!safe_for_ldns(bytes)) return ReplyCheck::kMalformed;
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, bytes.data(), bytes.size()) != LDNS_STATUS_OK) return ReplyCheck::kMalformed;
  PktPtr pkt(raw);
  if (!ldns_pkt_qr(pkt.get()) || ldns_pkt_get_opcode(pkt.get()) != LDNS_PACKET_QUERY) {
    return ReplyCheck::kMalformed;
  }
  const ldns_rr_list* question = ldns_pkt_question(pkt.get());
  if (ldns_rr_list_rr_count(question) != 1) return ReplyCheck::kMismatch;
  const ldns_rr* qrr = ldns_rr_list_rr(question, 0);
  const ldns_rdf* owner = ldns_rr_owner(qrr);
  if (ldns_rr_get_type(qrr) != key.type || ldns_rr_get_class(qrr) != key.klass || !owner ||
      ldns_rdf_size(owner) != key.name.size()) {
    return ReplyCheck::kMismatch;
  }
  const uint8_t* n = ldns_rdf_data(owner);
  for (size_t i = 0; i < key.name.size(); ++i) {
    if (ascii_lower(n[i]) != static_cast<uint8_t>(key.name[i])) return ReplyCheck::kMismatch;
  }
  out = std::move(pkt);
  return ReplyCheck::kOk;
}

}  // namespace portico::dnscache
