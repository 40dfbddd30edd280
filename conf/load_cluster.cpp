// Cluster section of the config (see docs/config.md "clusters").
#include "conf/sections.hpp"

namespace portico::conf {
namespace {

std::string idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// "name:port" with a DNS name (or IP) and a port 1..65535.
bool host_port_ok(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  unsigned v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + unsigned(c - '0');
  }
  return v >= 1 && v <= 65535;
}

void load_endpoints(Reader& r, const YAML::Node& n, const std::string& path, Cluster& c) {
  auto items = r.list(n, path);
  if (!items) return;
  if (items->empty()) r.error(n, path, "must not be empty");
  for (size_t i = 0; i < items->size(); ++i) {
    const YAML::Node& item = (*items)[i];
    std::string p = idx(path, i);
    Endpoint e;
    YAML::Node addr_node = item;
    if (item.IsScalar()) {
      auto a = r.address(item, p);
      if (!a) continue;
      e.address = *a;
    } else {
      Fields f(r, item, p, "endpoint", {"address", "weight", "priority"});
      if (!f.ok()) continue;
      if (!f.require("address") || !f.address("address", e.address)) continue;
      addr_node = *f.get("address");
      f.integer("weight", e.weight, 1, 10000);
      f.integer("priority", e.priority, 0, 10);
    }
    bool dup = false;
    for (const auto& other : c.endpoints) dup = dup || other.address == e.address;
    if (dup) {
      r.error(addr_node, p, "duplicate endpoint " + e.address.str());
      continue;
    }
    c.endpoints.push_back(e);
  }
}

// Printable ASCII or UTF-8 bytes without spaces or control characters.
bool visible(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  return true;
}

// lo_key must not exceed hi_key; the error sits on hi_key when it is set, else on lo_key.
void check_order(Reader& r, Fields& f, Duration lo, Duration hi, const char* lo_key, const char* hi_key) {
  if (hi >= lo) return;
  if (f.has(hi_key))
    r.error(*f.get(hi_key), f.sub(hi_key),
            std::string("must not be less than ") + lo_key + " (" + duration_str(lo) + ")");
  else
    r.error(*f.get(lo_key), f.sub(lo_key),
            std::string("must not exceed ") + hi_key + " (" + duration_str(hi) + ")");
}

void load_discovery(Reader& r, const YAML::Node& n, const std::string& path, Discovery& d) {
  Fields f(r, n, path, "discovery",
           {"dns", "dns_srv", "mdns", "max_endpoints", "nameserver", "timeout", "min_refresh",
            "max_refresh", "empty_refresh", "retry_backoff", "max_retry_backoff", "max_targets"});
  if (!f.ok()) return;
  int kinds = int(f.has("dns")) + int(f.has("dns_srv")) + int(f.has("mdns"));
  if (kinds != 1) {
    r.error(n, path, "set exactly one of dns, dns_srv, mdns");
    return;
  }
  if (f.str("dns", d.name)) {
    d.kind = Discovery::Kind::kDns;
    if (!host_port_ok(d.name))
      r.error(*f.get("dns"), f.sub("dns"),
              "expected a name with a port like api.internal:8080, got '" + d.name + "'");
  } else if (f.str("dns_srv", d.name)) {
    d.kind = Discovery::Kind::kDnsSrv;
  } else if (f.str("mdns", d.name)) {
    d.kind = Discovery::Kind::kMdns;
  }
  f.integer("max_endpoints", d.max_endpoints, 1, 65536);
  // The rest tunes DNS resolution: refused on other kinds.
  const bool dns = f.has("dns") || f.has("dns_srv");
  for (const char* key : {"nameserver", "timeout", "min_refresh", "max_refresh", "empty_refresh",
                          "retry_backoff", "max_retry_backoff", "max_targets"}) {
    if (f.has(key) && !dns) r.error(*f.key_node(key), f.sub(key), "only for dns and dns_srv discovery");
  }
  if (!dns) return;
  if (const YAML::Node* ns = f.get("nameserver")) {
    if (auto a = r.ip_port(*ns, f.sub("nameserver"), 53)) d.nameserver = *a;
  }
  f.duration("timeout", d.timeout, 10 * kMs, kMin);
  f.duration("min_refresh", d.min_refresh, 100 * kMs, kDay);
  f.duration("max_refresh", d.max_refresh, 100 * kMs, kDay);
  f.duration("empty_refresh", d.empty_refresh, 100 * kMs, kDay);
  f.duration("retry_backoff", d.retry_backoff, 100 * kMs, kHour);
  f.duration("max_retry_backoff", d.max_retry_backoff, 100 * kMs, kDay);
  if (f.integer("max_targets", d.max_targets, 1, 1024) && d.kind != Discovery::Kind::kDnsSrv)
    r.error(*f.key_node("max_targets"), f.sub("max_targets"), "only for dns_srv discovery");
  check_order(r, f, d.min_refresh, d.max_refresh, "min_refresh", "max_refresh");
  check_order(r, f, d.retry_backoff, d.max_retry_backoff, "retry_backoff", "max_retry_backoff");
}

void load_hash_key(Reader& r, const YAML::Node& n, const std::string& path, HashKey& h) {
  if (n.IsScalar()) {
    r.choice<HashKey::Kind>(n, path, {{"client_ip", HashKey::Kind::kClientIp}});
    h.kind = HashKey::Kind::kClientIp;
    return;
  }
  Fields f(r, n, path, "hash_key", {"header", "cookie"});
  if (!f.ok()) return;
  if (int(f.has("header")) + int(f.has("cookie")) != 1) {
    r.error(n, path, "expected client_ip, { header: Name } or { cookie: name }");
    return;
  }
  if (f.str("header", h.name)) {
    h.kind = HashKey::Kind::kHeader;
    if (!is_token(h.name))
      r.error(*f.get("header"), f.sub("header"), "'" + h.name + "' is not a valid header name");
  } else if (f.str("cookie", h.name)) {
    h.kind = HashKey::Kind::kCookie;
  }
}

// health_check.jitter: "10%" (of the interval, 0..100%) or a duration up to the interval.
void load_jitter(Reader& r, const YAML::Node& n, const std::string& path, HealthCheck& h) {
  std::optional<std::string> s = r.scalar(n, path, "a percent or a duration");
  if (!s) return;
  if (!s->empty() && s->back() == '%') {
    std::string digits = s->substr(0, s->size() - 1);
    bool ok = !digits.empty() && digits.size() <= 3;
    unsigned v = 0;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      v = v * 10 + unsigned(c - '0');
    }
    if (!ok || v > 100) {
      r.error(n, path, "expected a percent 0%..100% or a duration, got '" + clip(*s) + "'");
      return;
    }
    h.jitter = {true, v, Duration::zero()};
    return;
  }
  auto d = r.duration(n, path, Duration::zero(), kHour);
  if (!d) return;
  if (*d > h.interval) {
    r.error(n, path, "must not exceed interval (" + duration_str(h.interval) + ")");
    return;
  }
  h.jitter = {false, 0, *d};
}

void load_health_check(Reader& r, const YAML::Node& n, const std::string& path, HealthCheck& h) {
  Fields f(r, n, path, "health_check",
           {"type", "method", "path", "host", "expect", "interval", "timeout", "rise", "fall",
            "jitter", "max_in_flight"});
  if (!f.ok()) return;
  f.choice("type", h.type, {{"tcp", HealthCheck::Type::kTcp}, {"http", HealthCheck::Type::kHttp}});
  // The same bounds as upstream::HealthChecker::create (it builds the request line).
  if (f.str("method", h.method) && (!is_token(h.method) || h.method.size() > 32))
    r.error(*f.get("method"), f.sub("method"), "'" + h.method + "' is not a valid method name (at most 32)");
  if (f.str("path", h.path) && h.path[0] != '/')
    r.error(*f.get("path"), f.sub("path"), "must start with '/', got '" + h.path + "'");
  else if (f.has("path") && (h.path.size() > 2048 || !visible(h.path)))
    r.error(*f.get("path"), f.sub("path"), "at most 2048 bytes, no spaces or control characters");
  if (f.opt_str("host", h.host) && h.host && (h.host->empty() || h.host->size() > 255 || !visible(*h.host)))
    r.error(*f.get("host"), f.sub("host"), "1..255 bytes, no spaces or control characters");
  if (const YAML::Node* e = f.get("expect")) {
    if (auto items = r.list(*e, f.sub("expect"), true)) {
      std::vector<int> codes;
      for (size_t i = 0; i < items->size(); ++i)
        if (auto v = r.integer((*items)[i], e->IsSequence() ? idx(f.sub("expect"), i) : f.sub("expect"), 100, 599))
          codes.push_back(int(*v));
      if (items->empty()) r.error(*e, f.sub("expect"), "must not be empty");
      else h.expect = codes;
    }
  }
  f.duration("interval", h.interval, 100 * kMs, kHour);
  f.duration("timeout", h.timeout, kMs, kHour);
  f.integer("rise", h.rise, 1, 100);
  f.integer("fall", h.fall, 1, 100);
  if (h.timeout > h.interval)
    r.error(f.has("timeout") ? *f.get("timeout") : n, f.sub("timeout"),
            "must not exceed interval (" + duration_str(h.interval) + ")");
  if (const YAML::Node* j = f.get("jitter")) load_jitter(r, *j, f.sub("jitter"), h);
  f.integer("max_in_flight", h.max_in_flight, 1, 65536);
}

void load_upstream_tls(Reader& r, const YAML::Node& n, const std::string& path, UpstreamTls& t) {
  Fields f(r, n, path, "tls", {"ca", "sni", "cert", "key", "verify"});
  if (!f.ok()) return;
  f.opt_str("ca", t.ca);
  f.opt_str("sni", t.sni);
  f.opt_str("cert", t.cert);
  f.opt_str("key", t.key);
  f.boolean("verify", t.verify);
  if (t.cert.has_value() != t.key.has_value())
    r.error(n, path, "cert and key must be set together");
}

// slow_start: a duration (the window), or { window, min_percent }.
void load_slow_start(Reader& r, const YAML::Node& n, const std::string& path, Cluster& c) {
  if (!n.IsMap()) {
    if (auto d = r.duration(n, path, Duration::zero(), kDay)) c.slow_start = *d;
    return;
  }
  Fields f(r, n, path, "slow_start", {"window", "min_percent"});
  if (!f.ok()) return;
  f.duration("window", c.slow_start, Duration::zero(), kDay);
  f.integer("min_percent", c.slow_start_min_percent, 1, 100);
}

}  // namespace

void load_cluster(LoadContext& ctx, const YAML::Node& n, const std::string& path, Cluster& c) {
  Reader& r = ctx.r;
  ClusterMarks marks;
  marks.path = path;
  c.mark = mark_of(n);
  Fields f(r, n, path, "cluster",
           {"name", "endpoints", "discovery", "lb", "hash_key", "connect_timeout",
            "response_timeout", "pool", "health_check", "outlier", "tls", "proxy_protocol",
            "max_connections", "max_pending", "panic", "slow_start", "retry_budget", "ring_hash",
            "maglev", "least_request"});
  if (!f.ok()) {
    ctx.clusters.push_back(marks);
    return;
  }
  if (f.require("name") && f.name("name", c.name)) marks.name = mark_of(*f.get("name"));
  if (const YAML::Node* e = f.get("endpoints")) load_endpoints(r, *e, f.sub("endpoints"), c);
  if (const YAML::Node* d = f.get("discovery")) load_discovery(r, *d, f.sub("discovery"), c.discovery);
  if (!f.has("endpoints") && !f.has("discovery"))
    r.error(n, path, "a cluster needs 'endpoints' or 'discovery'");
  else if (f.has("endpoints") && f.has("discovery"))
    r.error(*f.key_node("discovery"), path, "a cluster takes 'endpoints' or 'discovery', not both");

  f.choice("lb", c.lb,
           {{"round_robin", LbPolicy::kRoundRobin},
            {"weighted_round_robin", LbPolicy::kWeightedRoundRobin},
            {"least_connections", LbPolicy::kLeastConnections},
            {"least_request", LbPolicy::kLeastRequest},
            {"random", LbPolicy::kRandom},
            {"ring_hash", LbPolicy::kRingHash},
            {"maglev", LbPolicy::kMaglev}});
  // hash_key is read whatever lb is (the sketch sets it beside least_request);
  // only ring_hash and maglev use it.
  if (const YAML::Node* h = f.get("hash_key")) load_hash_key(r, *h, f.sub("hash_key"), c.hash_key);
  f.duration("connect_timeout", c.connect_timeout, kMs, kHour);
  f.duration("response_timeout", c.response_timeout, kMs, kDay);
  if (const YAML::Node* p = f.get("pool")) {
    Fields pf(r, *p, f.sub("pool"), "pool", {"max_idle", "idle_timeout"});
    if (pf.ok()) {
      pf.integer("max_idle", c.pool.max_idle, 0, 100000);
      pf.duration("idle_timeout", c.pool.idle_timeout, kMs, kDay);
    }
  }
  if (const YAML::Node* h = f.get("health_check"); h && !h->IsNull()) {
    HealthCheck hc;
    load_health_check(r, *h, f.sub("health_check"), hc);
    c.health_check = hc;
  }
  if (const YAML::Node* o = f.get("outlier"); o && !o->IsNull()) {
    Outlier out;
    Fields of(r, *o, f.sub("outlier"), "outlier",
              {"consecutive_failures", "base_ejection", "max_ejection_percent", "max_ejection"});
    if (of.ok()) {
      of.integer("consecutive_failures", out.consecutive_failures, 1, 1000);
      of.duration("base_ejection", out.base_ejection, kMs, kDay);
      of.integer("max_ejection_percent", out.max_ejection_percent, 0, 100);
      of.opt_duration("max_ejection", out.max_ejection, kMs, kDay);
      if (out.max_ejection && *out.max_ejection < out.base_ejection)
        r.error(*of.get("max_ejection"), of.sub("max_ejection"),
                "must not be less than base_ejection (" + duration_str(out.base_ejection) + ")");
    }
    c.outlier = out;
  }
  if (const YAML::Node* t = f.get("tls"); t && !t->IsNull()) {
    UpstreamTls tls;
    load_upstream_tls(r, *t, f.sub("tls"), tls);
    c.tls = tls;
  }
  // YAML 1.1 reads a bare `off` as false; yaml-cpp hands us the text, and
  // `false` spelled out means the same.
  if (const YAML::Node* pp = f.get("proxy_protocol")) {
    if (pp->IsScalar() && pp->Scalar() == "false")
      c.proxy_protocol = ProxyProtocol::kOff;
    else if (auto v = r.choice<ProxyProtocol>(*pp, f.sub("proxy_protocol"),
                                              {{"off", ProxyProtocol::kOff},
                                               {"v1", ProxyProtocol::kV1},
                                               {"v2", ProxyProtocol::kV2}}))
      c.proxy_protocol = *v;
  }
  f.integer("max_connections", c.max_connections, 0, 1000000);
  f.integer("max_pending", c.max_pending, 0, 1000000);
  f.boolean("panic", c.panic);
  if (const YAML::Node* ss = f.get("slow_start")) load_slow_start(r, *ss, f.sub("slow_start"), c);
  if (const YAML::Node* b = f.get("retry_budget")) {
    Fields bf(r, *b, f.sub("retry_budget"), "retry_budget", {"percent", "min_concurrent"});
    if (bf.ok()) {
      bf.integer("percent", c.retry_budget.percent, 0, 100);
      bf.integer("min_concurrent", c.retry_budget.min_concurrent, 0, 1000000);
    }
  }
  if (const YAML::Node* rh = f.get("ring_hash")) {
    Fields rf(r, *rh, f.sub("ring_hash"), "ring_hash", {"points_per_weight", "max_points"});
    if (rf.ok()) {
      rf.integer("points_per_weight", c.ring_hash.points_per_weight, 1, 10000);
      rf.integer("max_points", c.ring_hash.max_points, 1024, 1u << 24);
    }
  }
  if (const YAML::Node* m = f.get("maglev")) {
    Fields mf(r, *m, f.sub("maglev"), "maglev", {"table_size"});
    if (mf.ok()) mf.integer("table_size", c.maglev_table_size, 7, 1u << 24);
  }
  if (const YAML::Node* lr = f.get("least_request")) {
    Fields lf(r, *lr, f.sub("least_request"), "least_request",
              {"ewma_alpha_percent", "ewma_stale", "failure_latency"});
    if (lf.ok()) {
      lf.integer("ewma_alpha_percent", c.least_request.ewma_alpha_percent, 1, 100);
      lf.duration("ewma_stale", c.least_request.ewma_stale, kMs, kDay);
      lf.duration("failure_latency", c.least_request.failure_latency, Duration::zero(), kMin);
    }
  }
  ctx.clusters.push_back(marks);
}

}  // namespace portico::conf
