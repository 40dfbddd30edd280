// Listener and route sections of the config (see docs/config.md "listeners").
#include <algorithm>

#include "conf/sections.hpp"

namespace portico::conf {
namespace {

std::string idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

bool header_value_ok(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool host_ok(std::string_view h) {
  if (h.substr(0, 2) == "*.") h.remove_prefix(2);
  if (h.empty()) return false;
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void load_tls(Reader& r, const YAML::Node& n, const std::string& path, ListenerTls& t) {
  Fields f(r, n, path, "tls",
           {"certificates", "min_version", "alpn", "session_tickets", "ticket_rotation",
            "client_ca", "client_auth", "client_subject_header"});
  if (!f.ok()) return;
  if (f.require("certificates")) {
    if (auto items = r.list(*f.get("certificates"), f.sub("certificates"))) {
      if (items->empty()) r.error(*f.get("certificates"), f.sub("certificates"), "must not be empty");
      for (size_t i = 0; i < items->size(); ++i) {
        Fields c(r, (*items)[i], idx(f.sub("certificates"), i), "certificate",
                 {"cert", "key", "ocsp"});
        if (!c.ok()) continue;
        TlsCertificate cert;
        if (c.require("cert")) c.str("cert", cert.cert);
        if (c.require("key")) c.str("key", cert.key);
        c.opt_str("ocsp", cert.ocsp);
        t.certificates.push_back(std::move(cert));
      }
    }
  }
  if (const YAML::Node* v = f.get("min_version")) {
    if (auto s = r.choice<std::string>(*v, f.sub("min_version"), {{"1.2", "1.2"}, {"1.3", "1.3"}}))
      t.min_version = *s;
  }
  if (f.string_list("alpn", t.alpn)) {
    if (t.alpn.empty()) r.error(*f.get("alpn"), f.sub("alpn"), "must not be empty");
    for (const auto& a : t.alpn)
      if (a.size() > 255) r.error(*f.get("alpn"), f.sub("alpn"), "protocol names are at most 255 bytes");
  }
  f.boolean("session_tickets", t.session_tickets);
  f.duration("ticket_rotation", t.ticket_rotation, kMin, 7 * kDay);
  f.opt_str("client_ca", t.client_ca);
  f.choice("client_auth", t.client_auth,
           {{"none", ClientAuth::kNone}, {"optional", ClientAuth::kOptional},
            {"required", ClientAuth::kRequired}});
  if (f.str("client_subject_header", t.client_subject_header) &&
      !is_token(t.client_subject_header))
    r.error(*f.get("client_subject_header"), f.sub("client_subject_header"),
            "'" + t.client_subject_header + "' is not a valid header name");
  if (t.client_auth != ClientAuth::kNone && !t.client_ca)
    r.error(*f.get("client_auth"), f.sub("client_auth"), "client_auth needs client_ca");
}

void load_headers(Reader& r, const YAML::Node& n, const std::string& path, HeaderTransform& h) {
  Fields f(r, n, path, "header changes", {"add", "remove"});
  if (!f.ok()) return;
  if (const YAML::Node* add = f.get("add")) {
    if (auto entries = r.string_map(*add, f.sub("add"))) {
      for (auto& [name, value] : *entries) {
        std::string p = f.sub("add") + "." + name;
        if (!is_token(name)) {
          r.error(value, p, "'" + name + "' is not a valid header name");
          continue;
        }
        auto v = r.scalar(value, p);
        if (!v) continue;
        if (!header_value_ok(*v)) {
          r.error(value, p, "header values must not contain CR, LF or NUL");
          continue;
        }
        h.add.emplace_back(name, *v);
      }
    }
  }
  if (f.string_list("remove", h.remove, true)) {
    for (const auto& name : h.remove)
      if (!is_token(name))
        r.error(*f.get("remove"), f.sub("remove"), "'" + name + "' is not a valid header name");
  }
}

void load_match(Reader& r, const YAML::Node& n, const std::string& path, RouteMatch& m) {
  Fields f(r, n, path, "match", {"host", "path", "path_prefix", "path_regex", "method", "headers"});
  if (!f.ok()) return;
  std::optional<std::string> host;
  if (f.opt_str("host", host) && host) {
    if (!host_ok(*host)) {
      r.error(*f.get("host"), f.sub("host"),
              "expected a host name like example.test or *.example.test, got '" + *host + "'");
    } else {
      std::transform(host->begin(), host->end(), host->begin(),
                     [](unsigned char c) { return std::tolower(c); });
      m.host = host;
    }
  }
  int path_kinds = 0;
  for (const char* k : {"path", "path_prefix"}) {
    if (!f.has(k)) continue;
    ++path_kinds;
    std::optional<std::string> p;
    if (f.opt_str(k, p) && p) {
      if ((*p)[0] != '/')
        r.error(*f.get(k), f.sub(k), "must start with '/', got '" + *p + "'");
      else
        (std::string_view(k) == "path" ? m.path : m.path_prefix) = p;
    }
  }
  if (f.has("path_regex")) {
    ++path_kinds;
    std::optional<std::string> re;
    if (f.opt_str("path_regex", re) && re) {
      std::string why;
      if (regex_ok(*re, &why))
        m.path_regex = re;
      else
        r.error(*f.get("path_regex"), f.sub("path_regex"),
                "invalid regular expression '" + clip(*re) + "': " + why);
    }
  }
  if (path_kinds > 1)
    r.error(n, path, "use only one of path, path_prefix, path_regex");
  if (f.string_list("method", m.methods, true)) {
    for (const auto& meth : m.methods)
      if (!is_token(meth))
        r.error(*f.get("method"), f.sub("method"), "'" + meth + "' is not a valid method name");
  }
  if (const YAML::Node* hs = f.get("headers")) {
    if (auto entries = r.string_map(*hs, f.sub("headers"))) {
      for (auto& [name, value] : *entries) {
        std::string p = f.sub("headers") + "." + name;
        if (!is_token(name)) {
          r.error(value, p, "'" + name + "' is not a valid header name");
          continue;
        }
        if (auto v = r.scalar(value, p)) m.headers.push_back({name, *v});
      }
    }
  }
}

bool retry_condition_ok(const std::string& s) {
  if (s == "connect_failure" || s == "reset" || s == "timeout" || s == "5xx") return true;
  return s.size() == 3 && s[0] == '5' && std::isdigit(static_cast<unsigned char>(s[1])) &&
         std::isdigit(static_cast<unsigned char>(s[2]));
}

void load_route(LoadContext& ctx, const YAML::Node& n, const std::string& path, Route& rt) {
  Reader& r = ctx.r;
  rt.mark = mark_of(n);
  Fields f(r, n, path, "route",
           {"name", "match", "cluster", "static", "redirect", "respond", "rewrite", "request_headers",
            "response_headers", "timeout", "retries"});
  if (!f.ok()) return;
  if (const YAML::Node* nm = f.get("name"); nm && !nm->IsNull()) {
    std::string name;
    if (f.name("name", name)) rt.name = std::move(name);
  } else {
    f.opt_str("name", rt.name);
  }
  if (const YAML::Node* m = f.get("match")) load_match(r, *m, f.sub("match"), rt.match);

  std::vector<std::string> actions;
  for (const char* a : {"cluster", "static", "redirect", "respond"})
    if (f.has(a)) actions.push_back(a);
  if (actions.empty()) {
    r.error(n, path, "route has no action: set one of cluster, static, redirect, respond");
  } else if (actions.size() > 1) {
    std::string list;
    for (const auto& a : actions) list += (list.empty() ? "" : ", ") + a;
    r.error(n, path, "route has more than one action (" + list + "): set exactly one");
  }
  std::string cluster;
  if (f.str("cluster", cluster)) {
    rt.cluster = cluster;
    ctx.route_refs.push_back({cluster, mark_of(*f.get("cluster")), f.sub("cluster")});
  }
  if (const YAML::Node* s = f.get("static")) {
    Fields sf(r, *s, f.sub("static"), "static", {"root", "index"});
    if (sf.ok()) {
      StaticAction st;
      if (sf.require("root")) sf.str("root", st.root);
      sf.str("index", st.index);
      rt.static_files = st;
    }
  }
  if (const YAML::Node* s = f.get("redirect")) {
    Fields rf(r, *s, f.sub("redirect"), "redirect", {"status", "location"});
    if (rf.ok()) {
      RedirectAction rd;
      if (const YAML::Node* st = rf.get("status")) {
        auto v = r.integer(*st, rf.sub("status"), 0, 999);
        if (v && *v != 301 && *v != 302 && *v != 303 && *v != 307 && *v != 308)
          r.error(*st, rf.sub("status"), "expected one of 301, 302, 303, 307, 308, got " +
                                             std::to_string(*v));
        else if (v)
          rd.status = int(*v);
      }
      if (rf.require("location") && rf.str("location", rd.location) &&
          !header_value_ok(rd.location))
        r.error(*rf.get("location"), rf.sub("location"), "must not contain CR, LF or NUL");
      rt.redirect = rd;
    }
  }
  if (const YAML::Node* s = f.get("respond")) {
    Fields rf(r, *s, f.sub("respond"), "respond", {"status", "body"});
    if (rf.ok()) {
      RespondAction rs;
      rf.integer("status", rs.status, 200, 599);
      if (const YAML::Node* b = rf.get("body")) {
        if (auto v = r.scalar(*b, rf.sub("body"))) {
          if (v->size() > kMiB)
            r.error(*b, rf.sub("body"), "must be at most 1MiB");
          else if (!v->empty() && (rs.status == 204 || rs.status == 304))
            r.error(*b, rf.sub("body"), "must be empty: a " + std::to_string(rs.status) + " response has no body");
          else
            rs.body = *v;
        }
      }
      rt.respond = rs;
    }
  }
  if (const YAML::Node* s = f.get("rewrite")) {
    Fields wf(r, *s, f.sub("rewrite"), "rewrite", {"path_prefix", "host"});
    if (wf.ok()) {
      std::string prefix;
      if (wf.str("path_prefix", prefix)) {
        if (prefix[0] != '/')
          r.error(*wf.get("path_prefix"), wf.sub("path_prefix"),
                  "must start with '/', got '" + prefix + "'");
        else if (!rt.match.path_prefix)
          r.error(*wf.get("path_prefix"), wf.sub("path_prefix"),
                  "rewrite.path_prefix needs match.path_prefix (the part it replaces)");
        else
          rt.rewrite_path_prefix = prefix;
      }
      std::string host;
      if (wf.str("host", host)) {
        if (!header_value_ok(host))
          r.error(*wf.get("host"), wf.sub("host"), "must not contain CR, LF or NUL");
        else
          rt.rewrite_host = host;
      }
    }
  }
  if (const YAML::Node* h = f.get("request_headers"))
    load_headers(r, *h, f.sub("request_headers"), rt.request_headers);
  if (const YAML::Node* h = f.get("response_headers"))
    load_headers(r, *h, f.sub("response_headers"), rt.response_headers);
  f.opt_duration("timeout", rt.timeout, kMs, kDay);
  if (const YAML::Node* s = f.get("retries")) {
    Fields rf(r, *s, f.sub("retries"), "retries", {"attempts", "on", "per_try_timeout"});
    if (rf.ok()) {
      rf.integer("attempts", rt.retries.attempts, 0, 10);
      if (rf.string_list("on", rt.retries.on, true)) {
        for (const auto& c : rt.retries.on)
          if (!retry_condition_ok(c))
            r.error(*rf.get("on"), rf.sub("on"),
                    "expected one of connect_failure, reset, timeout, 5xx or a 5xx status code, "
                    "got '" + c + "'");
      }
      rf.opt_duration("per_try_timeout", rt.retries.per_try_timeout, kMs, kDay);
    }
  }
}

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok = std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) !=
                                     std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

void load_listener(LoadContext& ctx, const YAML::Node& n, const std::string& path, Listener& l) {
  Reader& r = ctx.r;
  ListenerMarks marks;
  marks.path = path;
  l.mark = mark_of(n);
  Fields f(r, n, path, "listener",
           {"name", "bind", "protocol", "tls", "proxy_protocol_from", "defer_accept", "splice",
            "timeouts", "limits", "routes", "cluster"});
  if (!f.ok()) {
    ctx.listeners.push_back(marks);
    return;
  }
  if (f.require("name") && f.name("name", l.name)) marks.name = mark_of(*f.get("name"));
  if (f.require("bind")) {
    marks.bind_ok = f.address("bind", l.bind);
    marks.bind = mark_of(*f.get("bind"));
  }
  f.choice("protocol", l.protocol,
           {{"tcp", Protocol::kTcp}, {"udp", Protocol::kUdp}, {"http", Protocol::kHttp}});
  if (const YAML::Node* t = f.get("tls"); t && !t->IsNull()) {
    ListenerTls tls;
    load_tls(r, *t, f.sub("tls"), tls);
    l.tls = std::move(tls);
  }
  if (const YAML::Node* p = f.get("proxy_protocol_from")) {
    if (auto items = r.list(*p, f.sub("proxy_protocol_from"), true))
      for (size_t i = 0; i < items->size(); ++i)
        if (auto c = r.cidr((*items)[i], idx(f.sub("proxy_protocol_from"), i)))
          l.proxy_protocol_from.push_back(*c);
  }
  if (bool d = false; f.boolean("defer_accept", d)) l.defer_accept = d;
  if (bool sp = false; f.boolean("splice", sp)) l.splice = sp;
  if (const YAML::Node* t = f.get("timeouts")) {
    Fields tf(r, *t, f.sub("timeouts"), "timeouts", {"header", "idle", "handshake", "connect", "linger"});
    if (tf.ok()) {
      tf.duration("header", l.timeouts.header, kMs, kDay);
      tf.duration("idle", l.timeouts.idle, kMs, kDay);
      tf.duration("handshake", l.timeouts.handshake, kMs, kDay);
      tf.duration("connect", l.timeouts.connect, kMs, kDay);
      tf.duration("linger", l.timeouts.linger, kMs, kDay);
      if (l.protocol == Protocol::kUdp)
        for (const char* k : {"header", "handshake", "connect", "linger"})
          if (tf.has(k)) r.error(*tf.key_node(k), tf.sub(k), "does not apply to a udp listener (only idle does)");
    }
  }
  if (const YAML::Node* t = f.get("limits")) {
    Fields lf(r, *t, f.sub("limits"), "limits",
              {"max_connections", "request_line", "header_bytes", "headers", "body",
               "udp_sessions", "buffer"});
    if (lf.ok()) {
      lf.integer("max_connections", l.limits.max_connections, 1, 1000000);
      lf.size("request_line", l.limits.request_line, 256, kMiB);
      lf.size("header_bytes", l.limits.header_bytes, kKiB, kMiB);
      lf.integer("headers", l.limits.headers, 1, 1000);
      lf.size("body", l.limits.body, 0, 1024 * kGiB);
      lf.integer("udp_sessions", l.limits.udp_sessions, 1, 1000000);
      lf.size("buffer", l.limits.buffer, kKiB, 64 * kMiB);
      if (l.protocol == Protocol::kUdp) {
        for (const char* k : {"max_connections", "request_line", "header_bytes", "headers", "body", "buffer"})
          if (lf.has(k))
            r.error(*lf.key_node(k), lf.sub(k), "does not apply to a udp listener (only udp_sessions does)");
      } else if (lf.has("udp_sessions")) {
        r.error(*lf.key_node("udp_sessions"), lf.sub("udp_sessions"), "is for udp listeners");
      }
    }
  }
  if (const YAML::Node* rs = f.get("routes")) {
    if (auto items = r.list(*rs, f.sub("routes"))) {
      for (size_t i = 0; i < items->size(); ++i) {
        Route rt;
        load_route(ctx, (*items)[i], idx(f.sub("routes"), i), rt);
        l.routes.push_back(std::move(rt));
      }
    }
  }
  std::string cluster;
  if (f.str("cluster", cluster)) {
    l.cluster = cluster;
    marks.cluster = mark_of(*f.get("cluster"));
  }

  // Shape rules that depend on the protocol.
  const char* proto = l.protocol == Protocol::kHttp ? "http"
                      : l.protocol == Protocol::kUdp ? "udp" : "tcp";
  if (l.protocol == Protocol::kHttp) {
    if (!f.has("routes"))
      r.error(n, path, "an http listener needs 'routes'");
    else if (f.get("routes")->IsSequence() && f.get("routes")->size() == 0)
      r.error(*f.get("routes"), f.sub("routes"), "an http listener needs at least one route");
    if (f.has("cluster"))
      r.error(*f.key_node("cluster"), f.sub("cluster"),
              "an http listener takes no 'cluster': use a route with cluster");
  } else {
    if (!f.has("cluster"))
      r.error(n, path, std::string("a ") + proto + " listener needs 'cluster'");
    if (f.has("routes"))
      r.error(*f.key_node("routes"), f.sub("routes"),
              std::string("a ") + proto + " listener takes no 'routes' (routes are for http)");
  }
  if (l.protocol == Protocol::kUdp && f.has("proxy_protocol_from"))
    r.error(*f.key_node("proxy_protocol_from"), f.sub("proxy_protocol_from"),
            "a udp listener reads no PROXY protocol header");
  if (l.protocol == Protocol::kUdp && l.defer_accept.value_or(false))
    r.error(*f.get("defer_accept"), f.sub("defer_accept"), "defer_accept is for tcp and http listeners");
  if (l.splice.value_or(false)) {
    if (l.protocol != Protocol::kTcp)
      r.error(*f.get("splice"), f.sub("splice"), "splice is for tcp listeners");
    else if (l.tls)
      r.error(*f.get("splice"), f.sub("splice"),
              "splice cannot apply to a tls listener (its bytes are decrypted in portico)");
  }
  if (l.protocol == Protocol::kUdp && marks.bind_ok && l.bind.family() == AF_UNIX)
    r.error(marks.bind, f.sub("bind"), "a udp listener cannot bind a unix socket");
  ctx.listeners.push_back(marks);
}

}  // namespace portico::conf
