#pragma once
// unique_ptr aliases owning ldns objects (packets, RRs, names, zones).
// Plain RAII helpers; any thread.

// ldns/common.h defines bool/false/true as macros unless stdbool.h came first,
// which breaks C++ standard headers included later: always include ldns via here.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)

#include <ldns/ldns.h>

#include <memory>

namespace portico::dnscache {

struct LdnsFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
  void operator()(ldns_rr* r) const { ldns_rr_free(r); }
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
  void operator()(ldns_zone* z) const { ldns_zone_deep_free(z); }
  void operator()(uint8_t* b) const { LDNS_FREE(b); }
};
using PktPtr = std::unique_ptr<ldns_pkt, LdnsFree>;
using RrPtr = std::unique_ptr<ldns_rr, LdnsFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, LdnsFree>;
using RrListPtr = std::unique_ptr<ldns_rr_list, LdnsFree>;
using ZonePtr = std::unique_ptr<ldns_zone, LdnsFree>;
using WirePtr = std::unique_ptr<uint8_t, LdnsFree>;

}  // namespace portico::dnscache
