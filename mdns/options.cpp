#include "mdns/options.hpp"

#include <set>

#include "mdns/name.hpp"

namespace portico::mdns {

namespace {

bool valid_type(const std::string& t) {
  auto dot = t.find('.');
  if (dot == std::string::npos || t.find('.', dot + 1) != std::string::npos) return false;
  auto svc = t.substr(0, dot), proto = t.substr(dot + 1);
  // RFC 6763 7: "_" + 1..15 characters; protocol _tcp or _udp.
  return svc.size() >= 2 && svc.size() <= 16 && svc[0] == '_' && (proto == "_tcp" || proto == "_udp");
}

}  // namespace

std::string validate(const Options& o) {
  if (o.hostname.empty() || o.hostname.size() > 60 || o.hostname.find('.') != std::string::npos)
    return "hostname must be one label of 1..60 bytes";
  std::set<uint32_t> seen;
  for (const auto& i : o.interfaces)
    if (!seen.insert(i.index).second) return "duplicate interface index " + std::to_string(i.index);
  for (const auto& s : o.services) {
    if (s.instance.empty() || s.instance.size() > 63) return "service instance name must be 1..63 bytes";
    if (!valid_type(s.type)) return "service type must look like _name._tcp or _name._udp: " + s.type;
    for (const auto& sub : s.subtypes)
      if (sub.empty() || sub.size() > 63 || sub.find('.') != std::string::npos)
        return "bad subtype '" + sub + "' for " + s.instance;
    for (const auto& e : s.txt)
      if (e.key.empty() || e.key.find('=') != std::string::npos ||
          e.key.size() + e.value.size() + 1 > 255)
        return "bad TXT entry for " + s.instance;
  }
  for (const auto& b : o.browse)
    if (!valid_type(b)) return "browse type must look like _name._tcp or _name._udp: " + b;
  if (o.limits.max_packet_size < 512 || o.limits.max_packet_size > 9000)
    return "max_packet_size must be 512..9000";
  if (o.limits.max_cache_entries == 0 || o.limits.max_rate_sources == 0)
    return "cache and rate limiter sizes must be positive";
  if (o.limits.announcements < 2) return "at least two announcements";
  return {};
}

}  // namespace portico::mdns
