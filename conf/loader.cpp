#include "conf/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "conf/sections.hpp"

namespace portico::conf {

std::string ConfigError::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

EnvLookup process_env() {
  return [](std::string_view name, std::string& value) {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return false;
    value = v;
    return true;
  };
}

// Features parsed and validated above but not implemented by this build yet.
// One line per feature: delete the line when the feature lands.
void check_supported(const Config& c, std::vector<ConfigError>& errors) {
  auto refuse = [&](Mark m, const std::string& feature) {
    errors.push_back({c.file, m.line, m.column, feature + " is not supported by this build yet"});
  };
  for (const auto& l : c.listeners) {
    const std::string on = " on listener '" + l.name + "'";
    if (l.tls && l.protocol == Protocol::kUdp) refuse(l.mark, "tls" + on);
    if (l.protocol != Protocol::kHttp && l.cluster)
      if (const Cluster* cl = c.find_cluster(*l.cluster); cl && cl->tls)
        refuse(l.mark, "upstream tls (cluster '" + cl->name + "')" + on);
  }
  for (const auto& cl : c.clusters) {
    if (cl.discovery.kind == Discovery::Kind::kMdns &&
        (!c.mdns || std::find(c.mdns->browse.begin(), c.mdns->browse.end(), cl.discovery.name) == c.mdns->browse.end()))
      errors.push_back({c.file, cl.mark.line, cl.mark.column,
                        "discovery mdns on cluster '" + cl.name + "' needs '" + cl.discovery.name +
                            "' in mdns.browse"});
  }
}

std::string lb_name(LbPolicy p) {
  switch (p) {
    case LbPolicy::kRoundRobin: return "round_robin";
    case LbPolicy::kWeightedRoundRobin: return "weighted_round_robin";
    case LbPolicy::kLeastConnections: return "least_connections";
    case LbPolicy::kLeastRequest: return "least_request";
    case LbPolicy::kRandom: return "random";
    case LbPolicy::kRingHash: return "ring_hash";
    case LbPolicy::kMaglev: return "maglev";
  }
  return "?";
}

namespace {

constexpr size_t kMaxFileBytes = 16 * 1024 * 1024;

std::string idx(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::string at_line(Mark m) { return m.line > 0 ? " (first at line " + std::to_string(m.line) + ")" : ""; }

bool is_datagram(const Listener& l) { return l.protocol == Protocol::kUdp; }

void load_workers(Reader& r, const YAML::Node& n, Config& c) {
  auto s = r.scalar(n, "workers", "auto or an integer");
  if (!s) return;
  if (*s == "auto") {
    c.workers = 0;
    return;
  }
  bool digits = !s->empty() && s->size() < 10 &&
                std::all_of(s->begin(), s->end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (!digits) {
    r.error(n, "workers", "expected auto or an integer from 1 to 256, got '" + *s + "'");
    return;
  }
  unsigned long v = std::strtoul(s->c_str(), nullptr, 10);
  if (v < 1 || v > 256) {
    r.error(n, "workers", "must be between 1 and 256, got " + *s);
    return;
  }
  c.workers = uint32_t(v);
}

void load_log(Reader& r, const YAML::Node& n, Log& log) {
  Fields f(r, n, "log", "log", {"level", "access"});
  if (!f.ok()) return;
  f.choice("level", log.level,
           {{"error", LogLevel::kError}, {"warn", LogLevel::kWarn}, {"info", LogLevel::kInfo},
            {"debug", LogLevel::kDebug}});
  if (const YAML::Node* a = f.get("access")) {
    Fields af(r, *a, f.sub("access"), "access log", {"path", "format"});
    if (!af.ok()) return;
    af.str("path", log.access.path);
    af.choice("format", log.access.format,
              {{"json", AccessFormat::kJson}, {"combined", AccessFormat::kCombined}});
  }
}

void load_admin(Reader& r, const YAML::Node& n, Admin& admin) {
  Fields f(r, n, "admin", "admin", {"bind", "token"});
  if (!f.ok()) return;
  if (const YAML::Node* b = f.get("bind")) {
    if (b->IsNull()) {
      admin.bind.reset();
    } else if (auto a = r.address(*b, f.sub("bind"))) {
      admin.bind = *a;
    }
  }
  f.opt_str("token", admin.token);
}

void load_runtime(Reader& r, const YAML::Node& n, Config::Runtime& rt) {
  Fields f(r, n, "runtime", "runtime",
           {"buffer_size", "buffers", "ring_entries", "batch_wait", "batch_wait_events"});
  if (!f.ok()) return;
  f.duration("batch_wait", rt.batch_wait, Duration::zero(), std::chrono::milliseconds(10));
  f.integer("batch_wait_events", rt.batch_wait_events, 2, 1024);
  f.size("buffer_size", rt.buffer_size, 4 * kKiB, kMiB);
  f.integer("buffers", rt.buffers, 64, 1048576);
  f.integer("ring_entries", rt.ring_entries, 64, 32768);
}

// Checks that need the whole config: names, binds and references.
void cross_check(LoadContext& ctx, Config& c) {
  Reader& r = ctx.r;
  for (size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    const ListenerMarks& m = ctx.listeners[i];
    for (size_t j = 0; j < i; ++j) {
      const Listener& o = c.listeners[j];
      if (!l.name.empty() && l.name == o.name)
        r.error(m.name, m.path + ".name",
                "duplicate listener name '" + l.name + "'" + at_line(ctx.listeners[j].name));
      if (m.bind_ok && ctx.listeners[j].bind_ok && l.bind == o.bind &&
          is_datagram(l) == is_datagram(o))
        r.error(m.bind, m.path + ".bind",
                "bind address " + l.bind.str() + " is already used by listener '" + o.name + "'");
    }
    if (m.bind_ok && c.admin.bind && *c.admin.bind == l.bind && !is_datagram(l))
      r.error(m.bind, m.path + ".bind",
              "bind address " + l.bind.str() + " is also the admin bind address");
    if (m.bind_ok && c.dns &&
        std::find(c.dns->listen.begin(), c.dns->listen.end(), l.bind) != c.dns->listen.end())
      r.error(m.bind, m.path + ".bind",
              "bind address " + l.bind.str() + " is also a dns.listen address");
  }
  for (size_t i = 0; i < c.clusters.size(); ++i) {
    const ClusterMarks& m = ctx.clusters[i];
    for (size_t j = 0; j < i; ++j)
      if (!c.clusters[i].name.empty() && c.clusters[i].name == c.clusters[j].name)
        r.error(m.name, m.path + ".name",
                "duplicate cluster name '" + c.clusters[i].name + "'" +
                    at_line(ctx.clusters[j].name));
  }
  for (size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    if (!l.cluster || l.protocol == Protocol::kHttp) continue;
    const std::string path = ctx.listeners[i].path + ".cluster";
    const Cluster* cl = c.find_cluster(*l.cluster);
    if (!cl) {
      r.error(ctx.listeners[i].cluster, path, "unknown cluster '" + *l.cluster + "'");
      continue;
    }
    if (l.protocol != Protocol::kUdp) continue;
    for (const auto& e : cl->endpoints) {
      if (e.address.family() != AF_UNIX) continue;
      r.error(ctx.listeners[i].cluster, path,
              "udp listener '" + l.name + "' cannot use cluster '" + cl->name + "': endpoint " +
                  e.address.str() + " is a unix socket");
      break;
    }
  }
  for (const auto& ref : ctx.route_refs)
    if (!c.find_cluster(ref.name)) r.error(ref.mark, ref.path, "unknown cluster '" + ref.name + "'");
}

LoadResult load_tree(const YAML::Node& root, const std::string& file, const EnvLookup& env,
                     const LoadOptions& opts) {
  Reader r(file, env);
  LoadContext ctx{r, {}, {}, {}};
  auto cfg = std::make_shared<Config>();
  Config& c = *cfg;
  c.file = file;
  c.admin.bind = parse_address("127.0.0.1:9901");

  if (!root.IsDefined() || root.IsNull()) {
    r.errors().push_back({file, 0, 0, "the config is empty"});
    return {nullptr, std::move(r.errors())};
  }
  if (!root.IsMap()) {
    r.error(root, "", "the top level must be a mapping of keys, got " + describe(root));
    return {nullptr, std::move(r.errors())};
  }
  Fields f(r, root, "", "",
           {"workers", "event_loop", "user", "drain_timeout", "log", "admin", "listeners",
            "clusters", "dns", "mdns", "runtime"});
  if (const YAML::Node* w = f.get("workers")) load_workers(r, *w, c);
  f.choice("event_loop", c.event_loop,
           {{"auto", EventLoop::kAuto}, {"io_uring", EventLoop::kIoUring},
            {"epoll", EventLoop::kEpoll}});
  if (f.opt_str("user", c.user) && c.user) c.user_mark = mark_of(*f.get("user"));
  f.duration("drain_timeout", c.drain_timeout, Duration::zero(), kHour);
  if (const YAML::Node* n = f.get("log")) load_log(r, *n, c.log);
  if (const YAML::Node* n = f.get("admin"); n && !n->IsNull()) load_admin(r, *n, c.admin);
  if (const YAML::Node* n = f.get("listeners")) {
    if (auto items = r.list(*n, "listeners")) {
      for (size_t i = 0; i < items->size(); ++i) {
        Listener l;
        load_listener(ctx, (*items)[i], idx("listeners", i), l);
        c.listeners.push_back(std::move(l));
      }
    }
  }
  if (const YAML::Node* n = f.get("clusters")) {
    if (auto items = r.list(*n, "clusters")) {
      for (size_t i = 0; i < items->size(); ++i) {
        Cluster cl;
        load_cluster(ctx, (*items)[i], idx("clusters", i), cl);
        c.clusters.push_back(std::move(cl));
      }
    }
  }
  if (const YAML::Node* n = f.get("dns"); n && !n->IsNull()) {
    Dns d;
    load_dns(r, *n, "dns", d);
    d.mark = mark_of(*f.key_node("dns"));  // the section, not its first key
    c.dns = std::move(d);
  }
  if (const YAML::Node* n = f.get("mdns"); n && !n->IsNull()) {
    Mdns m;
    load_mdns(r, *n, "mdns", m);
    m.mark = mark_of(*f.key_node("mdns"));
    c.mdns = std::move(m);
  }
  if (const YAML::Node* n = f.get("runtime")) load_runtime(r, *n, c.runtime);
  cross_check(ctx, c);
  if (opts.check_supported) check_supported(c, r.errors());

  std::vector<ConfigError> errors = std::move(r.errors());
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    return {nullptr, std::move(errors)};
  }
  return {std::move(cfg), {}};
}

}  // namespace

LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env, const LoadOptions& opts) {
  std::vector<YAML::Node> docs;
  // yaml-cpp reports syntax errors by exception; this is start-up code, not
  // the data path, and the exception stops here.
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    Mark m = e.mark.is_null() ? Mark{} : Mark{e.mark.line + 1, e.mark.column + 1};
    return {nullptr, {{file_name, m.line, m.column, "invalid YAML: " + e.msg}}};
  } catch (const YAML::Exception& e) {
    return {nullptr, {{file_name, 0, 0, std::string("invalid YAML: ") + e.what()}}};
  }
  if (docs.size() > 1)
    return {nullptr, {{file_name, mark_of(docs[1]).line, mark_of(docs[1]).column,
                       "only one YAML document is allowed"}}};
  return load_tree(docs.empty() ? YAML::Node() : docs[0], file_name, env, opts);
}

LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env) {
  return load_config_string(yaml, file_name, env, LoadOptions{});
}

LoadResult load_config_file(const std::string& path, const EnvLookup& env,
                            const LoadOptions& opts) {
  auto fail = [&](const std::string& msg) { return LoadResult{nullptr, {{path, 0, 0, msg}}}; };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(std::string("cannot read: ") + std::strerror(errno));
  std::string text;
  char buf[65536];
  int read_errno = 0;
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, f);
    text.append(buf, n);
    if (text.size() > kMaxFileBytes) break;
    if (n < sizeof buf) {
      if (std::ferror(f)) read_errno = errno;
      break;
    }
  }
  std::fclose(f);
  if (read_errno != 0) return fail(std::string("cannot read: ") + std::strerror(read_errno));
  if (text.size() > kMaxFileBytes) return fail("cannot read: file is larger than 16MiB");
  return load_config_string(text, path, env, opts);
}

LoadResult load_config_file(const std::string& path, const EnvLookup& env) {
  return load_config_file(path, env, LoadOptions{});
}

}  // namespace portico::conf
