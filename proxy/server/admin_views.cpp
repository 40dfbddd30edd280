#include "proxy/server/admin_views.hpp"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>

#include "conf/loader.hpp"

namespace portico::server {

std::string prom_label_escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\') out += "\\\\";
    else if (ch == '"') out += "\\\"";
    else if (ch == '\n') out += "\\n";
    else out += ch;
  }
  return out;
}

std::string json_escape(std::string_view v) {
  std::string out = "\"";
  for (unsigned char ch : v) {
    if (ch == '"') out += "\\\"";
    else if (ch == '\\') out += "\\\\";
    else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

namespace {

std::string route_label(const conf::Route& r, size_t i) { return r.name ? *r.name : std::to_string(i); }

// Prometheus text exposition, one family at a time.
class Prom {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: "k1", "v1", "k2", "v2"... (values escaped here)
  void sample(std::string_view name, std::initializer_list<std::string_view> labels, uint64_t v) {
    begin(name, labels);
    out_ += std::to_string(v);
    out_ += '\n';
  }
  void sample_f(std::string_view name, std::initializer_list<std::string_view> labels, double v) {
    begin(name, labels);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    out_ += buf;
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  void begin(std::string_view name, std::initializer_list<std::string_view> labels) {
    out_ += name;
    if (labels.size() >= 2) {
      out_ += '{';
      bool first = true;
      for (auto it = labels.begin(); it != labels.end() && it + 1 != labels.end(); it += 2) {
        if (!first) out_ += ',';
        first = false;
        out_ += *it;
        out_ += "=\"";
        out_ += prom_label_escape(*(it + 1));
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }
  std::string out_;
};

struct ListenerSum {
  uint64_t accepted = 0, refused = 0, active = 0, in = 0, out = 0, pp_rejected = 0, spliced = 0;
  bool tls = false;  // a TLS listener: its handshake series are shown
  std::array<uint64_t, 4> handshakes{};  // l4::TlsListenerStats::handshake_index
  std::array<uint64_t, tls::kHandshakeFailureCount> failures{};
};
struct RouteSum {
  std::array<uint64_t, 5> by_class{};
  std::array<uint64_t, l4::kLatencyBucketsUs.size() + 1> buckets{};
  uint64_t sum_us = 0;
};
struct EndpointSum {
  uint64_t requests = 0, connect_failures = 0, active = 0, tls_failures = 0;
};
using Key = std::pair<std::string, std::string>;

void sum_endpoints(const AdminShared& s, std::map<Key, EndpointSum>& eps) {
  for (const l4::WorkerStats* w : s.workers)
    w->each_endpoint([&](const std::string& c, const std::string& a, const l4::EndpointStats& e) {
      auto it = eps.find({c, a});
      if (it == eps.end()) return;
      it->second.requests += e.requests.get();
      it->second.connect_failures += e.connect_failures.get();
      it->second.active += e.active.get();
      it->second.tls_failures += e.tls_failures.get();
    });
}

void render_tls(Prom& p, const std::map<std::string, ListenerSum>& listeners, const std::map<Key, EndpointSum>& eps,
                const std::set<std::string>& tls_clusters) {
  p.family("portico_tls_handshakes_total", "counter",
           "TLS handshakes completed on a listener, by version and whether the session was resumed.");
  for (const auto& [name, t] : listeners) {
    if (!t.tls) continue;
    for (bool tls13 : {false, true})
      for (bool resumed : {false, true})
        p.sample("portico_tls_handshakes_total",
                 {"listener", name, "version", tls13 ? "1.3" : "1.2", "resumed", resumed ? "true" : "false"},
                 t.handshakes[l4::TlsListenerStats::handshake_index(tls13, resumed)]);
  }
  p.family("portico_tls_handshake_failures_total", "counter",
           "TLS handshakes on a listener that did not complete, by reason.");
  for (const auto& [name, t] : listeners) {
    if (!t.tls) continue;
    for (size_t i = 0; i < t.failures.size(); ++i)
      p.sample("portico_tls_handshake_failures_total",
               {"listener", name, "reason", tls::failure_name(static_cast<tls::HandshakeFailure>(i))}, t.failures[i]);
  }
  p.family("portico_upstream_tls_handshake_failures_total", "counter",
           "TLS handshakes with an endpoint of a cluster with tls that failed or timed out (also connect failures).");
  for (const auto& [k, e] : eps)
    if (tls_clusters.count(k.first))
      p.sample("portico_upstream_tls_handshake_failures_total", {"cluster", k.first, "endpoint", k.second},
               e.tls_failures);
}

}  // namespace

std::string render_metrics(const AdminShared& s) {
  auto cfg = s.config();
  // Only what the running config has: series of removed listeners, routes and
  // endpoints disappear (their counters stay in the registry if they return).
  std::map<std::string, ListenerSum> listeners;
  std::map<Key, RouteSum> routes;
  std::map<Key, EndpointSum> eps;
  std::set<std::string> tls_clusters;
  if (cfg) {
    for (const conf::Listener& l : cfg->listeners) {
      listeners[l.name].tls = l.tls.has_value();
      if (l.protocol != conf::Protocol::kHttp) continue;
      for (size_t i = 0; i < l.routes.size(); ++i) routes[{l.name, route_label(l.routes[i], i)}];
      routes[{l.name, "_unmatched"}];
    }
    for (const conf::Cluster& c : cfg->clusters) {
      for (const conf::Endpoint& e : c.endpoints) eps[{c.name, e.address.str()}];
      if (c.tls) tls_clusters.insert(c.name);
    }
  }
  uint64_t dns[9] = {};
  for (const l4::WorkerStats* w : s.workers) {
    w->each_listener([&](const std::string& name, const l4::ListenerStats& l) {
      auto it = listeners.find(name);
      if (it == listeners.end()) return;
      ListenerSum& t = it->second;
      t.accepted += l.accepted.get();
      t.refused += l.refused.get();
      t.active += l.active.get();
      t.in += l.bytes_in.get();
      t.out += l.bytes_out.get();
      t.pp_rejected += l.proxy_rejected.get();
      t.spliced += l.spliced.get();
      for (size_t i = 0; i < t.handshakes.size(); ++i) t.handshakes[i] += l.tls.handshakes[i].get();
      for (size_t i = 0; i < t.failures.size(); ++i) t.failures[i] += l.tls.failures[i].get();
    });
    w->each_route([&](const std::string& ln, const std::string& rn, const l4::RouteStats& r) {
      auto it = routes.find({ln, rn});
      if (it == routes.end()) return;
      for (size_t i = 0; i < 5; ++i) it->second.by_class[i] += r.by_class[i].get();
      for (size_t i = 0; i < it->second.buckets.size(); ++i) it->second.buckets[i] += r.latency[i].get();
      it->second.sum_us += r.latency_sum_us.get();
    });
    const l4::DnsStats& d = w->dns();
    const l4::Counter* cs[9] = {&d.queries,       &d.cache_hits, &d.cache_misses,
                                &d.stale_answers, &d.local_answers, &d.servfail,
                                &d.refused,       &d.upstream_timeouts, &d.cache_entries};
    for (int i = 0; i < 9; ++i) dns[i] += cs[i]->get();
  }
  sum_endpoints(s, eps);

  Prom p;
  p.family("portico_info", "gauge", "Build and runtime facts (value is always 1).");
  p.sample("portico_info", {"event_loop", s.backend}, 1);
  p.family("portico_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
  p.sample("portico_start_time_seconds", {}, static_cast<uint64_t>(s.start_unix));
  p.family("portico_workers", "gauge", "Worker threads.");
  p.sample("portico_workers", {}, s.workers.size());
  p.family("portico_draining", "gauge", "1 while the process drains (SIGTERM or POST /drain).");
  p.sample("portico_draining", {}, s.draining.load() ? 1 : 0);
  p.family("portico_reloads_total", "counter", "Configuration reloads by result.");
  p.sample("portico_reloads_total", {"result", "ok"}, s.reloads_ok.load());
  p.sample("portico_reloads_total", {"result", "failed"}, s.reloads_failed.load());

  struct LFam {
    const char* name;
    const char* type;
    const char* help;
    uint64_t ListenerSum::*field;
  };
  static constexpr LFam kListener[] = {
      {"portico_listener_connections_accepted_total", "counter", "Connections accepted.", &ListenerSum::accepted},
      {"portico_listener_connections_refused_total", "counter",
       "Connections closed at accept because limits.max_connections was reached.", &ListenerSum::refused},
      {"portico_listener_connections_active", "gauge", "Connections open now.", &ListenerSum::active},
      {"portico_listener_received_bytes_total", "counter", "Bytes received from clients.", &ListenerSum::in},
      {"portico_listener_sent_bytes_total", "counter", "Bytes sent to clients.", &ListenerSum::out},
      {"portico_listener_proxy_protocol_rejected_total", "counter",
       "Connections closed for a PROXY protocol header that was malformed or from an untrusted source.",
       &ListenerSum::pp_rejected},
      {"portico_listener_spliced_total", "counter",
       "tcp listeners: connection directions that switched to splice(2) (a bulk stream, relayed without "
       "copying through user space).",
       &ListenerSum::spliced},
  };
  for (const LFam& f : kListener) {
    p.family(f.name, f.type, f.help);
    for (const auto& [name, t] : listeners) p.sample(f.name, {"listener", name}, t.*f.field);
  }

  static constexpr const char* kClass[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  p.family("portico_http_requests_total", "counter",
           "HTTP requests answered, by listener, route (name or index; _unmatched = no route) and status class.");
  for (const auto& [k, r] : routes)
    for (size_t i = 0; i < 5; ++i)
      p.sample("portico_http_requests_total", {"listener", k.first, "route", k.second, "class", kClass[i]},
               r.by_class[i]);
  p.family("portico_http_request_duration_seconds", "histogram",
           "Time from the first request byte to the end of the response, by listener and route.");
  for (const auto& [k, r] : routes) {
    uint64_t cum = 0;
    for (size_t i = 0; i < r.buckets.size(); ++i) {
      cum += r.buckets[i];
      char le[32];
      if (i < l4::kLatencyBucketsUs.size())
        std::snprintf(le, sizeof le, "%g", static_cast<double>(l4::kLatencyBucketsUs[i]) / 1e6);
      else
        std::snprintf(le, sizeof le, "+Inf");
      p.sample("portico_http_request_duration_seconds_bucket", {"listener", k.first, "route", k.second, "le", le},
               cum);
    }
    p.sample_f("portico_http_request_duration_seconds_sum", {"listener", k.first, "route", k.second},
               static_cast<double>(r.sum_us) / 1e6);
    p.sample("portico_http_request_duration_seconds_count", {"listener", k.first, "route", k.second}, cum);
  }

  struct EFam {
    const char* name;
    const char* type;
    const char* help;
    uint64_t EndpointSum::*field;
  };
  static constexpr EFam kEndpoint[] = {
      {"portico_upstream_requests_total", "counter", "HTTP requests sent or TCP sessions opened to an endpoint.",
       &EndpointSum::requests},
      {"portico_upstream_connect_failures_total", "counter", "Connections to an endpoint that failed or timed out.",
       &EndpointSum::connect_failures},
      {"portico_upstream_active", "gauge", "Requests or sessions using an endpoint now.", &EndpointSum::active},
  };
  for (const EFam& f : kEndpoint) {
    p.family(f.name, f.type, f.help);
    for (const auto& [k, e] : eps) p.sample(f.name, {"cluster", k.first, "endpoint", k.second}, e.*f.field);
  }

  render_tls(p, listeners, eps, tls_clusters);

  if (cfg && cfg->dns) {
    static constexpr const char* kDns[9][3] = {
        {"portico_dns_queries_total", "counter", "Client queries received."},
        {"portico_dns_cache_hits_total", "counter", "Queries answered fresh from the cache."},
        {"portico_dns_cache_misses_total", "counter", "Queries that needed an upstream query."},
        {"portico_dns_stale_answers_total", "counter", "Queries answered from an expired entry (serve-stale)."},
        {"portico_dns_local_answers_total", "counter", "Queries answered from local zones and records."},
        {"portico_dns_servfail_total", "counter", "SERVFAIL replies sent."},
        {"portico_dns_refused_total", "counter", "REFUSED replies sent."},
        {"portico_dns_upstream_timeouts_total", "counter", "Upstream queries that timed out."},
        {"portico_dns_cache_entries", "gauge", "Cache entries (sum of the per-worker shards)."},
    };
    for (int i = 0; i < 9; ++i) {
      p.family(kDns[i][0], kDns[i][1], kDns[i][2]);
      p.sample(kDns[i][0], {}, dns[i]);
    }
  }
  if (cfg && cfg->mdns && s.mdns) {
    p.family("portico_mdns_instances", "gauge", "Service instances found by the mDNS browser, by service type.");
    for (const auto& list : s.mdns->all())
      if (list) p.sample("portico_mdns_instances", {"type", list->type}, list->instances.size());
  }
  return p.take();
}

// ---------------------------------------------------------------- JSON views

namespace {

// A tiny JSON writer: commas handled by the nesting stack.
class Json {
 public:
  Json& obj() { return open('{'); }
  Json& arr() { return open('['); }
  Json& end() {
    char c = close_.back();
    close_.pop_back();
    first_.pop_back();
    out_ += c;
    return *this;
  }
  Json& key(std::string_view k) {
    comma();
    out_ += json_escape(k);
    out_ += ':';
    pending_value_ = true;
    return *this;
  }
  Json& str(std::string_view v) { return raw(json_escape(v)); }
  Json& num(uint64_t v) { return raw(std::to_string(v)); }
  Json& boolean(bool v) { return raw(v ? "true" : "false"); }
  Json& null() { return raw("null"); }
  Json& opt(const std::optional<std::string>& v) { return v ? str(*v) : null(); }
  Json& dur(conf::Duration d) {  // "1500ms"
    return str(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms");
  }
  Json& raw(std::string_view v) {
    comma();
    out_ += v;
    return *this;
  }
  std::string take() { return std::move(out_) + "\n"; }

 private:
  Json& open(char c) {
    comma();
    out_ += c;
    close_.push_back(c == '{' ? '}' : ']');
    first_.push_back(1);
    return *this;
  }
  void comma() {
    if (pending_value_) {
      pending_value_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = 0;
    }
  }
  std::string out_;
  std::string close_;
  std::vector<char> first_;
  bool pending_value_ = false;
};

constexpr std::string_view kRedacted = "<redacted>";

const char* protocol_name(conf::Protocol p) {
  return p == conf::Protocol::kHttp ? "http" : p == conf::Protocol::kUdp ? "udp" : "tcp";
}
const char* pp_name(conf::ProxyProtocol p) {
  return p == conf::ProxyProtocol::kV1 ? "v1" : p == conf::ProxyProtocol::kV2 ? "v2" : "off";
}
const char* discovery_name(conf::Discovery::Kind k) {
  switch (k) {
    case conf::Discovery::Kind::kDns: return "dns";
    case conf::Discovery::Kind::kDnsSrv: return "dns_srv";
    case conf::Discovery::Kind::kMdns: return "mdns";
    case conf::Discovery::Kind::kNone: break;
  }
  return "none";
}

void route_json(Json& j, const conf::Route& r, size_t i) {
  j.obj().key("name").str(route_label(r, i)).key("match").obj();
  if (r.match.host) j.key("host").str(*r.match.host);
  if (r.match.path) j.key("path").str(*r.match.path);
  if (r.match.path_prefix) j.key("path_prefix").str(*r.match.path_prefix);
  if (r.match.path_regex) j.key("path_regex").str(*r.match.path_regex);
  if (!r.match.methods.empty()) {
    j.key("method").arr();
    for (const auto& m : r.match.methods) j.str(m);
    j.end();
  }
  if (!r.match.headers.empty()) {
    j.key("headers").obj();
    for (const auto& h : r.match.headers) j.key(h.name).str(h.value);
    j.end();
  }
  j.end();
  if (r.cluster) j.key("cluster").str(*r.cluster);
  if (r.static_files) j.key("static").obj().key("root").str(r.static_files->root).key("index").str(r.static_files->index).end();
  if (r.redirect) j.key("redirect").obj().key("status").num(r.redirect->status).key("location").str(r.redirect->location).end();
  if (r.respond) j.key("respond").obj().key("status").num(r.respond->status).key("body").str(r.respond->body).end();
  if (r.rewrite_path_prefix || r.rewrite_host) {
    j.key("rewrite").obj();
    if (r.rewrite_path_prefix) j.key("path_prefix").str(*r.rewrite_path_prefix);
    if (r.rewrite_host) j.key("host").str(*r.rewrite_host);
    j.end();
  }
  if (r.timeout) j.key("timeout").dur(*r.timeout);
  if (r.retries.attempts) j.key("retries").obj().key("attempts").num(r.retries.attempts).end();
  j.end();
}

}  // namespace

std::string render_clusters(const AdminShared& s) {
  auto cfg = s.config();
  std::map<Key, EndpointSum> eps;
  if (cfg)
    for (const conf::Cluster& c : cfg->clusters)
      for (const conf::Endpoint& e : c.endpoints) eps[{c.name, e.address.str()}];
  sum_endpoints(s, eps);
  const AdminShared::ClusterMap running = s.clusters();
  const TimeNs now = monotonic_now();
  Json j;
  j.obj().key("clusters").arr();
  if (cfg) {
    for (const conf::Cluster& c : cfg->clusters) {
      j.obj().key("name").str(c.name).key("lb").str(conf::lb_name(c.lb));
      j.key("discovery").str(discovery_name(c.discovery.kind));
      j.key("health_checked").boolean(c.health_check.has_value());
      j.key("endpoints").arr();
      auto it = running.find(c.name);
      if (it != running.end() && it->second) {
        // The live set (discovered endpoints included) with health state.
        for (const upstream::EndpointStatus& e : it->second->describe(now)) {
          const EndpointSum& t = eps[{c.name, e.address}];
          j.obj().key("address").str(e.address).key("weight").num(e.weight).key("priority").num(e.priority);
          j.key("health").str(e.healthy ? "up" : "down").key("ejected").boolean(e.ejected);
          if (e.ejected) j.key("ejected_ms").num(static_cast<uint64_t>(e.ejected_for / kNsPerMs));
          j.key("available").boolean(e.available).key("reason").str(e.reason);
          j.key("connections").num(e.connections).key("pending").num(e.pending);
          j.key("requests").num(t.requests).key("connect_failures").num(t.connect_failures).key("active").num(t.active);
          j.end();
        }
      } else {
        for (const conf::Endpoint& e : c.endpoints) {
          const EndpointSum& t = eps[{c.name, e.address.str()}];
          j.obj().key("address").str(e.address.str()).key("weight").num(e.weight).key("priority").num(e.priority);
          j.key("health").str("unknown").key("ejected").boolean(false);
          j.key("requests").num(t.requests).key("connect_failures").num(t.connect_failures).key("active").num(t.active);
          j.end();
        }
      }
      j.end().end();
    }
  }
  j.end();
  if (s.mdns) {
    j.key("mdns").arr();
    for (const auto& list : s.mdns->all()) {
      if (!list) continue;
      for (const auto& inst : list->instances) {
        j.obj().key("type").str(list->type).key("instance").str(inst.instance.name);
        j.key("host").str(inst.instance.host).key("port").num(inst.instance.port);
        j.key("priority").num(inst.instance.priority).key("weight").num(inst.instance.weight);
        j.key("addresses").arr();
        for (const auto& a : inst.instance.addresses) j.str(a.to_string());
        j.end().key("txt").arr();  // "key=value", or "key" for a boolean attribute (RFC 6763 6.4)
        for (const auto& t : inst.instance.txt) j.str(t.has_value ? t.key + "=" + t.value : t.key);
        j.end().key("signature_verified").boolean(inst.instance.signature_verified);
        j.key("interface").str(inst.interface).key("self").boolean(inst.self).end();
      }
    }
    j.end();
  }
  j.end();
  return j.take();
}

std::string render_config(const conf::Config& c) {
  Json j;
  j.obj();
  j.key("file").str(c.file);
  j.key("workers").num(c.workers);
  j.key("event_loop").str(c.event_loop == conf::EventLoop::kIoUring ? "io_uring"
                          : c.event_loop == conf::EventLoop::kEpoll ? "epoll" : "auto");
  j.key("user").opt(c.user);
  j.key("drain_timeout").dur(c.drain_timeout);
  j.key("admin").obj();
  j.key("bind").raw(c.admin.bind ? json_escape(c.admin.bind->str()) : "null");
  j.key("token").raw(c.admin.token ? json_escape(kRedacted) : "null").end();
  j.key("listeners").arr();
  for (const conf::Listener& l : c.listeners) {
    j.obj().key("name").str(l.name).key("bind").str(l.bind.str()).key("protocol").str(protocol_name(l.protocol));
    if (l.tls) {
      j.key("tls").obj().key("certificates").arr();
      for (const auto& cert : l.tls->certificates) j.obj().key("cert").str(cert.cert).key("key").str(kRedacted).end();
      j.end().key("min_version").str(l.tls->min_version).end();
    }
    j.key("proxy_protocol_from").arr();
    for (const auto& n : l.proxy_protocol_from) j.str(n.str());
    j.end();
    j.key("timeouts").obj().key("header").dur(l.timeouts.header).key("idle").dur(l.timeouts.idle);
    j.key("handshake").dur(l.timeouts.handshake).key("connect").dur(l.timeouts.connect).end();
    j.key("limits").obj().key("max_connections").num(l.limits.max_connections);
    j.key("request_line").num(l.limits.request_line).key("header_bytes").num(l.limits.header_bytes);
    j.key("headers").num(l.limits.headers).key("body").num(l.limits.body);
    j.key("udp_sessions").num(l.limits.udp_sessions).key("buffer").num(l.limits.buffer).end();
    if (l.cluster) j.key("cluster").str(*l.cluster);
    if (l.protocol == conf::Protocol::kHttp) {
      j.key("routes").arr();
      for (size_t i = 0; i < l.routes.size(); ++i) route_json(j, l.routes[i], i);
      j.end();
    }
    j.end();
  }
  j.end();
  j.key("clusters").arr();
  for (const conf::Cluster& cl : c.clusters) {
    j.obj().key("name").str(cl.name).key("lb").str(conf::lb_name(cl.lb));
    j.key("discovery").obj().key("kind").str(discovery_name(cl.discovery.kind)).key("name").str(cl.discovery.name).end();
    j.key("endpoints").arr();
    for (const auto& e : cl.endpoints)
      j.obj().key("address").str(e.address.str()).key("weight").num(e.weight).key("priority").num(e.priority).end();
    j.end();
    j.key("connect_timeout").dur(cl.connect_timeout).key("response_timeout").dur(cl.response_timeout);
    j.key("pool").obj().key("max_idle").num(cl.pool.max_idle).key("idle_timeout").dur(cl.pool.idle_timeout).end();
    j.key("proxy_protocol").str(pp_name(cl.proxy_protocol));
    if (cl.tls) {
      j.key("tls").obj().key("ca").opt(cl.tls->ca).key("sni").opt(cl.tls->sni).key("cert").opt(cl.tls->cert);
      j.key("key").raw(cl.tls->key ? json_escape(kRedacted) : "null").key("verify").boolean(cl.tls->verify).end();
    }
    j.end();
  }
  j.end();
  if (c.dns) {
    j.key("dns").obj().key("listen").arr();
    for (const auto& a : c.dns->listen) j.str(a.str());
    j.end().key("upstreams").arr();
    for (const auto& a : c.dns->upstreams) j.str(a.str());
    j.end().key("zones").arr();
    for (const auto& z : c.dns->zones) j.obj().key("name").str(z.name).key("file").str(z.file).end();
    j.end().key("records").num(c.dns->records.size()).key("allow").arr();
    for (const auto& n : c.dns->allow) j.str(n.str());
    j.end().end();
  }
  if (c.mdns) {
    j.key("mdns").obj().key("hostname").str(c.mdns->hostname).key("interfaces").arr();
    for (const auto& i : c.mdns->interfaces) j.str(i);
    j.end().key("browse").arr();
    for (const auto& b : c.mdns->browse) j.str(b);
    j.end().key("services").num(c.mdns->services.size());
    if (c.mdns->signing) j.key("signing").obj().key("key").raw(c.mdns->signing->key ? json_escape(kRedacted) : "null").end();
    j.end();
  }
  j.end();
  return j.take();
}

}  // namespace portico::server
