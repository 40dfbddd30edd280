#include "mdns/record.hpp"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace portico::mdns {

namespace {

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, uint16_t(v >> 16));
  put16(out, uint16_t(v));
}

bool to_record(const ldns_rr* rr, Record& out) {
  const ldns_rdf* owner = ldns_rr_owner(rr);
  if (!owner || !name_valid(ldns_rdf_data(owner), ldns_rdf_size(owner))) return false;
  out.name.assign(reinterpret_cast<const char*>(ldns_rdf_data(owner)), ldns_rdf_size(owner));
  out.type = uint16_t(ldns_rr_get_type(rr));
  uint16_t cls = uint16_t(ldns_rr_get_class(rr));
  out.cache_flush = (cls & kTopBit) != 0;
  out.rrclass = cls & ~kTopBit;
  out.ttl = ldns_rr_ttl(rr);
  out.rdata.clear();
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    if (!f) return false;
    const uint8_t* d = ldns_rdf_data(f);
    out.rdata.insert(out.rdata.end(), d, d + ldns_rdf_size(f));
  }
  return out.rdata.size() <= 65535;
}

ldns_rr* to_ldns(const Name& name, uint16_t type, uint16_t cls, const Record* r, bool question) {
  std::vector<uint8_t> wire(name.begin(), name.end());
  put16(wire, type);
  put16(wire, cls);
  if (!question) {
    put32(wire, r->ttl);
    put16(wire, uint16_t(r->rdata.size()));
    wire.insert(wire.end(), r->rdata.begin(), r->rdata.end());
  }
  ldns_rr* rr = nullptr;
  size_t pos = 0;
  if (ldns_wire2rr(&rr, wire.data(), wire.size(), &pos,
                   question ? LDNS_SECTION_QUESTION : LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
    return nullptr;
  }
  return rr;
}

bool push(ldns_pkt* pkt, ldns_pkt_section s, const std::vector<Record>& rs) {
  for (const auto& r : rs) {
    ldns_rr* rr = to_ldns(r.name, r.type, uint16_t(r.rrclass | (r.cache_flush ? kTopBit : 0)), &r, false);
    if (!rr) return false;
    ldns_pkt_push_rr(pkt, s, rr);
  }
  return true;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool bytes_equal_ci(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (lower(char(a[i])) != lower(char(b[i]))) return false;
  return true;
}

}  // namespace

// Record by record through ldns_wire2rr (ldns still decompresses the names and
// checks the data) rather than ldns_wire2pkt, which leaks all but the last TSIG
// record, and all but the last OPT's option data, of a packet carrying several
// (ldns 1.8.3): a LAN peer could repeat that at will. As ldns_wire2pkt does, OPT
// and TSIG records of the additional section are not kept as records.
std::optional<Message> decode(std::span<const uint8_t> bytes) {
  if (bytes.size() < LDNS_HEADER_SIZE) return std::nullopt;
  const uint8_t* w = bytes.data();
  Message m;
  m.id = LDNS_ID_WIRE(w);
  m.qr = LDNS_QR_WIRE(w) != 0;
  m.aa = LDNS_AA_WIRE(w) != 0;
  m.tc = LDNS_TC_WIRE(w) != 0;
  m.opcode = uint8_t(LDNS_OPCODE_WIRE(w));
  m.rcode = uint8_t(LDNS_RCODE_WIRE(w));
  const unsigned counts[4] = {LDNS_QDCOUNT(w), LDNS_ANCOUNT(w), LDNS_NSCOUNT(w), LDNS_ARCOUNT(w)};
  const ldns_pkt_section sections[4] = {LDNS_SECTION_QUESTION, LDNS_SECTION_ANSWER,
                                        LDNS_SECTION_AUTHORITY, LDNS_SECTION_ADDITIONAL};
  std::vector<Record>* outs[4] = {nullptr, &m.answers, &m.authority, &m.additional};
  size_t pos = LDNS_HEADER_SIZE;
  for (int s = 0; s < 4; ++s) {
    for (unsigned i = 0; i < counts[s]; ++i) {
      ldns_rr* rr = nullptr;  // ldns_wire2rr frees its record when it fails
      if (ldns_wire2rr(&rr, w, bytes.size(), &pos, sections[s]) != LDNS_STATUS_OK || !rr) {
        return std::nullopt;
      }
      const ldns_rr_type type = ldns_rr_get_type(rr);
      if (s == 3 && (type == LDNS_RR_TYPE_OPT || type == LDNS_RR_TYPE_TSIG)) {
        ldns_rr_free(rr);
        continue;
      }
      Record r;
      const bool ok = to_record(rr, r);
      ldns_rr_free(rr);
      if (!ok) return std::nullopt;
      if (s == 0) {
        m.questions.push_back({std::move(r.name), r.type, r.rrclass, r.cache_flush});
      } else {
        outs[s]->push_back(std::move(r));
      }
    }
  }
  return m;
}

std::vector<uint8_t> encode(const Message& m) {
  ldns_pkt* pkt = ldns_pkt_new();
  if (!pkt) return {};
  ldns_pkt_set_id(pkt, m.id);
  ldns_pkt_set_qr(pkt, m.qr);
  ldns_pkt_set_aa(pkt, m.aa);
  ldns_pkt_set_tc(pkt, m.tc);
  ldns_pkt_set_opcode(pkt, ldns_pkt_opcode(m.opcode));
  ldns_pkt_set_rcode(pkt, m.rcode);
  bool ok = true;
  for (const auto& q : m.questions) {
    ldns_rr* rr = to_ldns(q.name, q.type, uint16_t(q.qclass | (q.unicast_response ? kTopBit : 0)),
                          nullptr, true);
    if (!rr) {
      ok = false;
      break;
    }
    ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, rr);
  }
  ok = ok && push(pkt, LDNS_SECTION_ANSWER, m.answers) &&
       push(pkt, LDNS_SECTION_AUTHORITY, m.authority) &&
       push(pkt, LDNS_SECTION_ADDITIONAL, m.additional);
  std::vector<uint8_t> out;
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ok && ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK && wire) {
    out.assign(wire, wire + size);
  }
  std::free(wire);
  ldns_pkt_free(pkt);
  return out;
}

bool rdata_equal(uint16_t type, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return false;
  size_t fixed = 0;  // bytes before an embedded name, compared exactly
  switch (type) {
    case rrtype::kPtr:
      fixed = 0;
      break;
    case rrtype::kSrv:
      fixed = 6;
      break;
    default:
      return a == b;
  }
  if (a.size() < fixed) return a == b;
  return std::memcmp(a.data(), b.data(), fixed) == 0 &&
         bytes_equal_ci(a.data() + fixed, b.data() + fixed, a.size() - fixed);
}

bool same_record(const Record& a, const Record& b) {
  return a.type == b.type && a.rrclass == b.rrclass && name_equal(a.name, b.name) &&
         rdata_equal(a.type, a.rdata, b.rdata);
}

int compare_for_tiebreak(const Record& a, const Record& b) {
  if (a.rrclass != b.rrclass) return a.rrclass < b.rrclass ? -1 : 1;
  if (a.type != b.type) return a.type < b.type ? -1 : 1;
  size_t n = std::min(a.rdata.size(), b.rdata.size());
  for (size_t i = 0; i < n; ++i)
    if (a.rdata[i] != b.rdata[i]) return a.rdata[i] < b.rdata[i] ? -1 : 1;
  if (a.rdata.size() != b.rdata.size()) return a.rdata.size() < b.rdata.size() ? -1 : 1;
  return 0;
}

std::vector<uint8_t> rdata_address(const IpAddress& a) {
  return std::vector<uint8_t>(a.bytes.begin(), a.bytes.begin() + a.size());
}

std::vector<uint8_t> rdata_name(const Name& n) { return std::vector<uint8_t>(n.begin(), n.end()); }

std::vector<uint8_t> rdata_srv(uint16_t priority, uint16_t weight, uint16_t port, const Name& target) {
  std::vector<uint8_t> out;
  put16(out, priority);
  put16(out, weight);
  put16(out, port);
  out.insert(out.end(), target.begin(), target.end());
  return out;
}

std::vector<uint8_t> rdata_txt(const std::vector<std::string>& strings) {
  std::vector<uint8_t> out;
  for (const auto& s : strings) {
    size_t n = std::min<size_t>(s.size(), 255);
    out.push_back(uint8_t(n));
    out.insert(out.end(), s.begin(), s.begin() + n);
  }
  if (out.empty()) out.push_back(0);  // RFC 6763 6.1: never an empty rdata
  return out;
}

std::vector<uint8_t> rdata_nsec(const Name& next, std::vector<uint16_t> types) {
  std::vector<uint8_t> out(next.begin(), next.end());
  std::vector<ldns_rr_type> t;
  for (auto v : types) t.push_back(ldns_rr_type(v));
  ldns_rdf* bitmap = ldns_dnssec_create_nsec_bitmap(t.data(), t.size(), LDNS_RR_TYPE_NSEC);
  if (bitmap) {
    out.insert(out.end(), ldns_rdf_data(bitmap), ldns_rdf_data(bitmap) + ldns_rdf_size(bitmap));
    ldns_rdf_deep_free(bitmap);
  }
  return out;
}

std::optional<Srv> parse_srv(const std::vector<uint8_t>& r) {
  if (r.size() < 7) return std::nullopt;
  Srv s;
  s.priority = uint16_t(r[0] << 8 | r[1]);
  s.weight = uint16_t(r[2] << 8 | r[3]);
  s.port = uint16_t(r[4] << 8 | r[5]);
  if (!name_valid(r.data() + 6, r.size() - 6)) return std::nullopt;
  s.target.assign(r.begin() + 6, r.end());
  return s;
}

std::optional<Name> parse_ptr(const std::vector<uint8_t>& r) {
  if (!name_valid(r.data(), r.size())) return std::nullopt;
  return Name(r.begin(), r.end());
}

std::optional<std::vector<std::string>> parse_txt(const std::vector<uint8_t>& r) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < r.size()) {
    size_t n = r[pos];
    if (pos + 1 + n > r.size()) return std::nullopt;
    out.emplace_back(reinterpret_cast<const char*>(r.data()) + pos + 1, n);
    pos += 1 + n;
  }
  return out;
}

std::optional<IpAddress> parse_address(uint16_t type, const std::vector<uint8_t>& r) {
  IpAddress a;
  if (type == rrtype::kA && r.size() == 4) a.family = 4;
  else if (type == rrtype::kAaaa && r.size() == 16) a.family = 6;
  else return std::nullopt;
  std::copy(r.begin(), r.end(), a.bytes.begin());
  return a;
}

std::vector<std::string> txt_strings(const std::vector<TxtEntry>& entries) {
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(e.has_value ? e.key + "=" + e.value : e.key);
  return out;
}

std::vector<TxtEntry> txt_entries(const std::vector<std::string>& strings) {
  std::vector<TxtEntry> out;
  for (const auto& s : strings) {
    if (s.empty()) continue;  // RFC 6763 6.1: the lone empty string means "no keys"
    auto eq = s.find('=');
    if (eq == 0) continue;    // RFC 6763 6.4: no key -> silently ignored
    if (eq == std::string::npos) out.push_back({s, {}, false});
    else out.push_back({s.substr(0, eq), s.substr(eq + 1), true});
  }
  return out;
}

}  // namespace portico::mdns
