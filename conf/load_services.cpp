// The dns and mdns sections of the config (see docs/config.md "dns", "mdns").
#include <algorithm>

#include "conf/sections.hpp"

namespace portico::conf {
namespace {

std::string idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// A DNS label: 1..63 of letters, digits and '-', not starting or ending in '-'.
bool label_ok(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '-'; });
}

// "_http._tcp" / "_ipp._udp".
bool service_type_ok(std::string_view s) {
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) return false;
  std::string_view name = s.substr(0, dot), proto = s.substr(dot + 1);
  if (proto != "_tcp" && proto != "_udp") return false;
  if (name.size() < 2 || name[0] != '_') return false;
  return label_ok(name.substr(1)) && name.size() - 1 <= 15;
}

}  // namespace

void load_dns(Reader& r, const YAML::Node& n, const std::string& path, Dns& d) {
  d.mark = mark_of(n);
  Fields f(r, n, path, "dns",
           {"listen", "upstreams", "cache", "zones", "records", "allow", "upstream_timeout",
            "tcp_idle", "udp_batch"});
  if (!f.ok()) return;
  if (f.require("listen")) {
    const YAML::Node& ln = *f.get("listen");
    if (auto items = r.list(ln, f.sub("listen"), true)) {
      if (items->empty()) r.error(ln, f.sub("listen"), "needs at least one address");
      for (size_t i = 0; i < items->size(); ++i) {
        std::string p = ln.IsSequence() ? idx(f.sub("listen"), i) : f.sub("listen");
        auto a = r.address((*items)[i], p);
        if (!a) continue;
        if (a->family() == AF_UNIX) {
          r.error((*items)[i], p, "the dns server listens on IP addresses only");
          continue;
        }
        if (std::find(d.listen.begin(), d.listen.end(), *a) != d.listen.end()) {
          r.error((*items)[i], p, "duplicate address " + a->str());
          continue;
        }
        d.listen.push_back(*a);
      }
    }
  }
  if (const YAML::Node* u = f.get("upstreams")) {
    if (auto items = r.list(*u, f.sub("upstreams"), true))
      for (size_t i = 0; i < items->size(); ++i)
        if (auto a = r.ip_port((*items)[i], u->IsSequence() ? idx(f.sub("upstreams"), i)
                                                           : f.sub("upstreams"), 53))
          d.upstreams.push_back(*a);
  }
  if (const YAML::Node* c = f.get("cache")) {
    Fields cf(r, *c, f.sub("cache"), "cache",
              {"max_entries", "min_ttl", "max_ttl", "negative_ttl", "serve_stale", "prefetch"});
    if (cf.ok()) {
      cf.integer("max_entries", d.cache.max_entries, 1, 10000000);
      cf.duration("min_ttl", d.cache.min_ttl, Duration::zero(), kDay);
      cf.duration("max_ttl", d.cache.max_ttl, kSec, 7 * kDay);
      cf.duration("negative_ttl", d.cache.negative_ttl, Duration::zero(), kDay);
      cf.duration("serve_stale", d.cache.serve_stale, Duration::zero(), 7 * kDay);
      cf.boolean("prefetch", d.cache.prefetch);
      if (d.cache.min_ttl > d.cache.max_ttl)
        r.error(cf.has("min_ttl") ? *cf.get("min_ttl") : *c, cf.sub("min_ttl"),
                "must not exceed max_ttl (" + duration_str(d.cache.max_ttl) + ")");
    }
  }
  if (const YAML::Node* z = f.get("zones")) {
    if (auto items = r.list(*z, f.sub("zones"))) {
      for (size_t i = 0; i < items->size(); ++i) {
        Fields zf(r, (*items)[i], idx(f.sub("zones"), i), "zone", {"name", "file"});
        if (!zf.ok()) continue;
        DnsZone zone;
        bool ok = zf.require("name") && zf.str("name", zone.name);
        ok = zf.require("file") && zf.str("file", zone.file) && ok;
        if (!ok) continue;
        std::string key = zone.name;
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char ch) { return std::tolower(ch); });
        if (!key.empty() && key.back() == '.') key.pop_back();
        bool dup = std::any_of(d.zones.begin(), d.zones.end(), [&](const DnsZone& o) {
          std::string k = o.name;
          std::transform(k.begin(), k.end(), k.begin(),
                         [](unsigned char ch) { return std::tolower(ch); });
          if (!k.empty() && k.back() == '.') k.pop_back();
          return k == key;
        });
        if (dup) {
          r.error(*zf.get("name"), zf.sub("name"), "duplicate zone '" + zone.name + "'");
          continue;
        }
        d.zones.push_back(std::move(zone));
      }
    }
  }
  f.string_list("records", d.records, true);
  if (const YAML::Node* a = f.get("allow")) {
    if (auto items = r.list(*a, f.sub("allow"), true)) {
      if (items->empty())
        r.error(*a, f.sub("allow"), "must not be empty (leave it out for the loopback default)");
      for (size_t i = 0; i < items->size(); ++i)
        if (auto c = r.cidr((*items)[i], a->IsSequence() ? idx(f.sub("allow"), i) : f.sub("allow")))
          d.allow.push_back(*c);
    }
  } else {
    d.allow = {*parse_cidr("127.0.0.0/8"), *parse_cidr("::1/128")};
  }
  f.duration("upstream_timeout", d.upstream_timeout, 10 * kMs, kMin);
  f.duration("tcp_idle", d.tcp_idle, kSec, kHour);
  f.integer("udp_batch", d.udp_batch, 1, 128);
}

void load_mdns(Reader& r, const YAML::Node& n, const std::string& path, Mdns& m) {
  m.mark = mark_of(n);
  Fields f(r, n, path, "mdns",
           {"interfaces", "hostname", "services", "advertise_listeners", "browse", "signing",
            "ipv4", "ipv6"});
  if (!f.ok()) return;
  if (f.string_list("interfaces", m.interfaces, true)) {
    for (const auto& i : m.interfaces)
      if (i.size() > 15 || i.find('/') != std::string::npos)
        r.error(*f.get("interfaces"), f.sub("interfaces"),
                "'" + i + "' is not a valid interface name");
  }
  if (f.str("hostname", m.hostname) && !label_ok(m.hostname))
    r.error(*f.get("hostname"), f.sub("hostname"),
            "expected one DNS label (letters, digits, '-'; at most 63), got '" + m.hostname + "'");
  if (const YAML::Node* s = f.get("services")) {
    if (auto items = r.list(*s, f.sub("services"))) {
      for (size_t i = 0; i < items->size(); ++i) {
        std::string p = idx(f.sub("services"), i);
        Fields sf(r, (*items)[i], p, "service",
                  {"name", "type", "subtypes", "port", "txt", "priority", "weight"});
        if (!sf.ok()) continue;
        MdnsService svc;
        if (sf.require("name") && sf.str("name", svc.name) && svc.name.size() > 63)
          r.error(*sf.get("name"), sf.sub("name"), "must be at most 63 bytes");
        if (sf.require("type") && sf.str("type", svc.type) && !service_type_ok(svc.type))
          r.error(*sf.get("type"), sf.sub("type"),
                  "expected a service type like _http._tcp, got '" + svc.type + "'");
        if (sf.string_list("subtypes", svc.subtypes, true))
          for (const auto& st : svc.subtypes)
            if (st.size() > 63)
              r.error(*sf.get("subtypes"), sf.sub("subtypes"), "subtypes are at most 63 bytes");
        if (sf.require("port")) sf.integer("port", svc.port, 1, 65535);
        if (const YAML::Node* t = sf.get("txt")) {
          if (auto entries = r.string_map(*t, sf.sub("txt"))) {
            for (auto& [key, value] : *entries) {
              std::string tp = sf.sub("txt") + "." + key;
              auto v = r.scalar(value, tp);
              if (!v) continue;
              if (key.find('=') != std::string::npos || key.size() + 1 + v->size() > 255) {
                r.error(value, tp, "a TXT entry is key=value in at most 255 bytes, no '=' in key");
                continue;
              }
              svc.txt.emplace_back(key, *v);
            }
          }
        }
        sf.integer("priority", svc.priority, 0, 65535);
        sf.integer("weight", svc.weight, 0, 65535);
        m.services.push_back(std::move(svc));
      }
    }
  }
  f.boolean("advertise_listeners", m.advertise_listeners);
  if (f.string_list("browse", m.browse, true))
    for (const auto& b : m.browse)
      if (!service_type_ok(b))
        r.error(*f.get("browse"), f.sub("browse"),
                "expected a service type like _http._tcp, got '" + b + "'");
  if (const YAML::Node* s = f.get("signing"); s && !s->IsNull()) {
    Fields sf(r, *s, f.sub("signing"), "signing", {"key", "trusted_keys"});
    if (sf.ok()) {
      MdnsSigning sig;
      sf.opt_str("key", sig.key);
      sf.string_list("trusted_keys", sig.trusted_keys, true);
      m.signing = sig;
    }
  }
  f.boolean("ipv4", m.ipv4);
  f.boolean("ipv6", m.ipv6);
  if (!m.ipv4 && !m.ipv6) r.error(n, path, "at least one of ipv4, ipv6 must be true");
}

}  // namespace portico::conf
