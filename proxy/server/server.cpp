#include "proxy/server/server.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "conf/loader.hpp"
#include "proxy/base/log.hpp"
#include "proxy/io/socket.hpp"
#include "proxy/modules/dns_options.hpp"
#include "proxy/server/privileges.hpp"

namespace portico::server {

namespace {

std::string key_of(const conf::Listener& l) {
  return l.name + "|" + l.bind.str() + "|" + (l.protocol == conf::Protocol::kUdp ? "dgram" : "stream");
}

// The DNS server's sockets share the map; '#' keeps them apart from listener names.
std::string dns_key(const conf::Address& a, int type) {
  return "#dns|" + a.str() + "|" + (type == SOCK_DGRAM ? "dgram" : "stream");
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
  if (cpus.empty()) cpus.push_back(-1);
  return cpus;
}

log::Level to_log_level(conf::LogLevel l) {
  switch (l) {
    case conf::LogLevel::kError: return log::Level::kError;
    case conf::LogLevel::kWarn: return log::Level::kWarn;
    case conf::LogLevel::kInfo: return log::Level::kInfo;
    case conf::LogLevel::kDebug: return log::Level::kDebug;
  }
  return log::Level::kInfo;
}

// Where DNS discovery asks: the built-in DNS module when it runs (its first
// listen address; a wildcard becomes loopback), else the first resolv.conf
// nameserver. Read at config time on the main thread, never on a worker.
std::optional<conf::Address> discovery_nameserver(const conf::Config& c) {
  bool wanted = false;
  for (const conf::Cluster& cl : c.clusters)
    wanted |= cl.discovery.kind == conf::Discovery::Kind::kDns || cl.discovery.kind == conf::Discovery::Kind::kDnsSrv;
  if (!wanted) return std::nullopt;
  if (c.dns && !c.dns->listen.empty()) {
    conf::Address a = c.dns->listen[0];
    if (a.family() == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
      if (sin->sin_addr.s_addr == htonl(INADDR_ANY)) sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (a.family() == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
      if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)) sin6->sin6_addr = in6addr_loopback;
    }
    return a;
  }
  std::ifstream f("/etc/resolv.conf");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (text.size() > 64 * 1024) text.resize(64 * 1024);
  for (const sockaddr_storage& ss : modules::parse_resolv_conf(text)) {
    conf::Address a;
    a.storage = ss;
    a.len = ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    return a;
  }
  return std::nullopt;
}

}  // namespace

bool choose_backend(conf::EventLoop configured, io::Backend& out, bool& allow_fallback, std::string& err) {
  const char* source = "config";
  if (const char* env = std::getenv("PORTICO_EVENT_LOOP"); env && *env) {
    source = "PORTICO_EVENT_LOOP";
    if (!std::strcmp(env, "io_uring")) configured = conf::EventLoop::kIoUring;
    else if (!std::strcmp(env, "epoll")) configured = conf::EventLoop::kEpoll;
    else if (!std::strcmp(env, "auto")) configured = conf::EventLoop::kAuto;
    else {
      err = std::string("PORTICO_EVENT_LOOP: expected auto, io_uring or epoll, got '") + env + "'";
      return false;
    }
  }
  allow_fallback = configured == conf::EventLoop::kAuto;
  if (configured == conf::EventLoop::kEpoll) {
    out = io::Backend::kEpoll;
    LOG_INFO("event_loop=epoll reason=\"chosen by %s\"", source);
    return true;
  }
  std::string why;
  if (io::probe_io_uring(why)) {
    out = io::Backend::kIoUring;
    if (allow_fallback) LOG_INFO("event_loop=io_uring reason=\"auto: io_uring works here\"");
    else LOG_INFO("event_loop=io_uring reason=\"chosen by %s\"", source);
    return true;
  }
  if (!allow_fallback) {
    err = "event_loop io_uring requested but unavailable: " + why;
    return false;
  }
  out = io::Backend::kEpoll;
  LOG_INFO("event_loop=epoll reason=\"auto: %s\"", why.c_str());
  return true;
}

namespace {

// TCP_DEFER_ACCEPT on every socket of a listener (applied again on reload, so
// a changed setting reaches sockets that are kept). The kernel waits for the
// first bytes up to the first-read deadline portico enforces anyway.
void set_defer_accept(const conf::Listener& l, const std::vector<int>& fds) {
  int secs = 0;
  if (l.defers_accept()) {
    auto d = l.tls ? l.timeouts.handshake : l.protocol == conf::Protocol::kHttp ? l.timeouts.header : l.timeouts.idle;
    secs = static_cast<int>(std::clamp<int64_t>(std::chrono::ceil<std::chrono::seconds>(d).count(), 1, 3600));
  }
  for (int fd : fds)
    if (fd >= 0 && ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs) < 0)
      LOG_WARN("listener %s: TCP_DEFER_ACCEPT: %s", l.name.c_str(), std::strerror(errno));
}

}  // namespace

bool Server::bind_all(const conf::Config& c, std::map<std::string, Bound>& out, std::string& err) {
  std::vector<int> created;
  // Gives `n` workers a socket each (the rest get -1): the running ones under
  // `key`, else inherited ones (upgrade), else new ones. Surplus inherited
  // sockets become `extra` for listeners (`keep_extra`) and are closed otherwise.
  auto bind = [&](const std::string& key, const conf::Address& a, int type, size_t n, const std::string& what,
                  bool keep_extra) {
    if (auto it = bound_.find(key); it != bound_.end()) {
      out.emplace(key, it->second);
      return true;
    }
    Bound b;
    b.shared = std::make_shared<l4::ListenerShared>();
    b.type = type;
    b.address = a;
    std::vector<int> inherited = inherited_.take(type == SOCK_DGRAM ? "dgram" : "stream", a.str());
    for (size_t i = 0; i < workers_.size(); ++i) {
      int fd = -1;
      if (i < n && i < inherited.size()) {
        fd = inherited[i];
      } else if (i < n) {
        std::string e;
        fd = io::open_listener(a.sa(), a.len, type, 4096, e);
        if (fd < 0) {
          err = what + ": " + e;
          for (int f : created) ::close(f);
          return false;
        }
        created.push_back(fd);
      }
      b.fds.push_back(fd);
    }
    for (size_t i = std::min(n, workers_.size()); i < inherited.size(); ++i) {
      if (keep_extra) {
        b.extra.push_back(inherited[i]);
      } else {
        LOG_INFO("upgrade: %s: more inherited sockets than workers; one closed", what.c_str());
        ::close(inherited[i]);
      }
    }
    if (!b.extra.empty())
      LOG_INFO("upgrade: %s: %zu inherited sockets more than workers, served as well", what.c_str(), b.extra.size());
    out.emplace(key, std::move(b));
    return true;
  };
  for (const conf::Listener& l : c.listeners) {
    const int type = l.protocol == conf::Protocol::kUdp ? SOCK_DGRAM : SOCK_STREAM;
    // A unix-socket listener cannot be shared with SO_REUSEPORT: one socket,
    // served by the first worker only.
    const size_t n = l.bind.family() == AF_UNIX ? 1 : workers_.size();
    if (!bind(key_of(l), l.bind, type, n, "listener " + l.name + " (" + l.bind.str() + ")", true)) return false;
    if (type == SOCK_STREAM && l.bind.family() != AF_UNIX) set_defer_accept(l, out.at(key_of(l)).fds);
  }
  if (c.dns) {
    for (const conf::Address& a : c.dns->listen) {
      for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
        const char* proto = type == SOCK_DGRAM ? "udp" : "tcp";
        if (!bind(dns_key(a, type), a, type, workers_.size(), "dns.listen " + a.str() + " (" + proto + ")", false))
          return false;
      }
    }
  }
  return true;
}

bool Server::load_tls(const conf::Config& c, std::shared_ptr<const tls::TlsSet>* out, const char* what,
                      std::string* why) {
  std::vector<std::string> errors;
  tls::TicketKeyMap keys = ticket_keys_;
  auto set = tls::load_tls_set(c, &keys, &errors);
  if (!set) {
    for (const auto& e : errors) {
      LOG_ERROR("%s: %s", what, e.c_str());
      if (why) *why += (why->empty() ? "" : "; ") + e;
    }
    return false;
  }
  ticket_keys_ = std::move(keys);
  *out = std::move(set);
  return true;
}

void Server::rotate_ticket_keys() {
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, keys] : ticket_keys_)
    if (keys->rotate_if_due(now)) LOG_DEBUG("listener %s: session-ticket keys rotated", name.c_str());
}

void Server::publish(const std::shared_ptr<const conf::Config>& c, std::map<std::string, Bound>& bound,
                     const std::shared_ptr<const dnscache::Options>& dns,
                     const std::shared_ptr<const tls::TlsSet>& tls) {
  // One SharedCluster per cluster for all workers, taking over the previous
  // generation's health state (and discovered endpoints) by cluster name.
  std::vector<std::shared_ptr<upstream::SharedCluster>> clusters;
  std::map<std::string, std::shared_ptr<upstream::SharedCluster>> by_name;
  for (const conf::Cluster& cl : c->clusters) {
    auto prev = clusters_.find(cl.name);
    std::string err;
    auto sc = upstream::SharedCluster::create(cl, prev == clusters_.end() ? nullptr : prev->second.get(), &err);
    if (!sc) LOG_ERROR("cluster %s: %s", cl.name.c_str(), err.c_str());  // the worker builds an empty one
    else by_name[cl.name] = sc;
    clusters.push_back(std::move(sc));
  }
  clusters_ = std::move(by_name);
  admin_->set_clusters(clusters_);
  const std::optional<conf::Address> nameserver = discovery_nameserver(*c);
  for (size_t w = 0; w < workers_.size(); ++w) {
    WorkerMessage m{WorkerMessage::Kind::kConfig, {}};
    m.config.config = c;
    m.config.tls = tls;
    m.config.clusters = clusters;
    m.config.workers = static_cast<uint32_t>(workers_.size());
    m.config.discovery_nameserver = nameserver;
    m.config.mdns_table = mdns_table_;
    m.config.admin = admin_;
    if (w == 0) m.config.admin_fd = admin_fd_;
    for (const conf::Listener& l : c->listeners) {
      const Bound& b = bound.at(key_of(l));
      WorkerConfig::Listener wl{b.fds[w], b.shared, {}};
      for (size_t k = w; k < b.extra.size(); k += workers_.size()) wl.extra_fds.push_back(b.extra[k]);
      m.config.listeners.push_back(std::move(wl));
    }
    if (c->dns && dns) {
      m.config.dns.options = dns;
      m.config.dns.tcp_idle = c->dns->tcp_idle;
      m.config.dns.udp_batch = c->dns->udp_batch;
      for (const conf::Address& a : c->dns->listen)
        m.config.dns.sockets.push_back(
            {a, bound.at(dns_key(a, SOCK_DGRAM)).fds[w], bound.at(dns_key(a, SOCK_STREAM)).fds[w]});
    }
    workers_[w]->post(std::move(m));
  }
}

void Server::log_dns(const conf::Config& c, const dnscache::Options* dns) {
  if (!c.dns || !dns) return;
  for (const conf::Address& a : c.dns->listen) LOG_INFO("dns listening bind=%s protocol=udp+tcp", a.str().c_str());
  if (dns->upstreams.empty())
    LOG_WARN("dns: no upstreams (none configured, none in /etc/resolv.conf): cache misses get SERVFAIL");
}

int Server::fail(const std::string& why) {
  LOG_ERROR("%s", why.c_str());
  report_failure(why);
  return 1;
}

int Server::run(std::shared_ptr<const conf::Config> config) {
  current_ = config;
  log::set_level(to_log_level(config->log.level));
  inherited_ = InheritedSockets::from_environment();
  raise_fd_limit();
  io::Backend backend;
  bool fallback = false;
  std::string err;
  if (!choose_backend(config->event_loop, backend, fallback, err)) return fail(err);
  // Signals are taken synchronously by this thread only.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<int> cpus = allowed_cpus();
  size_t n = config->workers ? config->workers : cpus.size();
  io::LoopOptions opts;
  opts.ring_entries = config->runtime.ring_entries;
  opts.buffer_size = static_cast<uint32_t>(config->runtime.buffer_size);
  opts.buffers = config->runtime.buffers;
  opts.batch_wait_us = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(config->runtime.batch_wait).count());
  opts.batch_wait_events = config->runtime.batch_wait_events;
  for (size_t i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<Worker>(static_cast<uint32_t>(i), cpus[i % cpus.size()], backend,
                                                fallback, opts));
  std::shared_ptr<const dnscache::Options> dns = modules::prepare_dns(*config, err);
  if (!err.empty()) return fail(err);
  std::shared_ptr<const tls::TlsSet> tls;
  if (!load_tls(*config, &tls, "tls", &err)) {  // each problem is logged already
    report_failure("tls: " + err);
    return 1;
  }
  std::map<std::string, Bound> bound;
  if (!bind_all(*config, bound, err)) return fail(err);
  if (config->admin.bind) {
    const conf::Address& a = *config->admin.bind;
    admin_address_ = a.str();
    std::vector<int> inherited = inherited_.take("admin", admin_address_);
    for (size_t i = 1; i < inherited.size(); ++i) ::close(inherited[i]);
    admin_fd_ = inherited.empty() ? io::open_listener(a.sa(), a.len, SOCK_STREAM, 128, err) : inherited[0];
    if (admin_fd_ < 0) return fail("admin.bind " + admin_address_ + ": " + err);
  }
  inherited_.close_rest();
  // Every socket is bound: switch user before any worker thread exists.
  if (!drop_privileges(config->user, err)) return fail(err);
  for (auto& w : workers_) admin_->workers.push_back(&w->stats());
  admin_->workers_left.store(static_cast<uint32_t>(workers_.size()));
  admin_->mdns = mdns_table_;
  admin_->start_unix = static_cast<int64_t>(::time(nullptr));
  admin_->set_config(config, true, "");
  std::vector<std::future<std::string>> ready;
  for (auto& w : workers_) ready.push_back(w->start());
  auto stop_workers = [&] {
    for (auto& w : workers_) w->post({WorkerMessage::Kind::kForceClose, {}});
    for (auto& w : workers_) w->join();
  };
  for (auto& f : ready) {
    std::string e = f.get();
    if (!e.empty()) {
      stop_workers();
      return fail(e);
    }
  }
  bound_ = bound;
  publish(config, bound_, dns, tls);
  // Ready means every worker took its sockets (an upgrade's old process stops
  // accepting when we say so).
  for (auto& w : workers_) {
    if (w->wait_configured(std::chrono::seconds(10))) continue;
    stop_workers();
    return fail("worker " + std::to_string(w->id()) + " did not take its configuration");
  }
  for (const conf::Listener& l : config->listeners)
    LOG_INFO("listening name=%s bind=%s protocol=%s", l.name.c_str(), l.bind.str().c_str(),
             l.protocol == conf::Protocol::kUdp ? "udp" : l.protocol == conf::Protocol::kTcp ? "tcp" : "http");
  admin_->backend = workers_[0]->backend_name();
  if (config->admin.bind) LOG_INFO("admin listening bind=%s", config->admin.bind->str().c_str());
  log_dns(*config, dns.get());
  LOG_INFO("ready workers=%zu event_loop=%s pid=%d", workers_.size(), workers_[0]->backend_name(),
           static_cast<int>(::getpid()));
  report_ready();
  notify_systemd_ready();

  for (;;) {
    siginfo_t info;
    // While a new process is coming up (or a failed one is not reaped yet), look often.
    timespec ts{1, 0};
    if (upgrade_ || !children_.empty()) ts = {0, 20 * 1000 * 1000};
    int sig = sigtimedwait(&set, &info, &ts);
    rotate_ticket_keys();
    if (sig == SIGHUP) {
      std::string why = reload();
      if (why.empty()) admin_->set_config(current_, true, ""), admin_->reloads_ok.fetch_add(1);
      else admin_->set_config(nullptr, false, why), admin_->reloads_failed.fetch_add(1);
      admin_->reloads_done.fetch_add(1, std::memory_order_release);
    } else if (sig == SIGUSR2) {
      start_upgrade();
    } else if (sig == SIGUSR1) {
      // As nginx: logrotate moved the files; each worker opens its path again.
      LOG_INFO("received SIGUSR1: reopening the access log");
      for (auto& w : workers_) w->post(WorkerMessage{WorkerMessage::Kind::kReopenLogs, {}});
    } else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
      LOG_INFO("received %s: draining (up to %lld ms)", strsignal(sig),
               static_cast<long long>(current_->drain_timeout.count() / 1000000));
      if (upgrade_) {
        LOG_WARN("upgrade: stopping the new process pid=%d too (it was not ready)", static_cast<int>(upgrade_->pid()));
        ::kill(upgrade_->pid(), SIGTERM);
      }
      drain();
      return 0;
    }
    if (upgrade_) {
      std::string why;
      UpgradeAttempt::State st = upgrade_->poll(why);
      if (st == UpgradeAttempt::State::kReady) {
        LOG_INFO("upgrade: new process pid=%d is ready; pid=%d stops accepting and drains (up to %lld ms)",
                 static_cast<int>(upgrade_->pid()), static_cast<int>(::getpid()),
                 static_cast<long long>(current_->drain_timeout.count() / 1000000));
        drain(true);
        return 0;
      }
      if (st == UpgradeAttempt::State::kFailed) {
        LOG_ERROR("upgrade failed: new process pid=%d: %s; pid=%d keeps serving", static_cast<int>(upgrade_->pid()),
                  why.c_str(), static_cast<int>(::getpid()));
        children_.push_back(upgrade_->pid());
        upgrade_.reset();
      }
    }
    if (!children_.empty()) reap_children(children_);
    for (auto& w : workers_)
      if (w->finished()) {
        LOG_ERROR("worker %u stopped unexpectedly", w->id());
        return 1;
      }
  }
}

void Server::start_upgrade() {
  if (upgrade_) {
    LOG_WARN("upgrade: already in progress (new process pid=%d); SIGUSR2 ignored", static_cast<int>(upgrade_->pid()));
    return;
  }
  LOG_INFO("received SIGUSR2: starting a new process and handing it the listening sockets");
  std::vector<HandoverSocket> socks;
  for (const auto& [key, b] : bound_) {
    const char* kind = b.type == SOCK_DGRAM ? "dgram" : "stream";
    const std::string address = b.address.str();
    for (int fd : b.fds)
      if (fd >= 0) socks.push_back({fd, kind, address});
    for (int fd : b.extra) socks.push_back({fd, kind, address});
  }
  if (admin_fd_ >= 0) socks.push_back({admin_fd_, "admin", admin_address_});
  auto attempt = std::make_unique<UpgradeAttempt>();
  std::string err;
  if (!attempt->start(argv_, socks, err)) {
    LOG_ERROR("upgrade failed: %s; pid=%d keeps serving", err.c_str(), static_cast<int>(::getpid()));
    return;
  }
  upgrade_ = std::move(attempt);
}

std::string Server::reload() {
  LOG_INFO("reloading %s", config_path_.c_str());
  conf::LoadResult r = conf::load_config_file(config_path_);
  if (!r.ok()) {
    std::string why;
    for (const auto& e : r.errors) {
      LOG_ERROR("reload failed: %s", e.str().c_str());
      why += (why.empty() ? "" : "; ") + e.str();
    }
    LOG_ERROR("reload failed: keeping the running configuration");
    return why;
  }
  // Keys that change only on restart keep their running values, so the
  // config published (the admin endpoint's /config) is the one running.
  auto next = std::make_shared<conf::Config>(*r.config);
  const size_t want = next->workers ? next->workers : allowed_cpus().size();
  if (want != workers_.size())
    LOG_WARN("reload: the number of workers changes only on restart (keeping %zu)", workers_.size());
  next->workers = current_->workers;
  if (next->event_loop != current_->event_loop) LOG_WARN("reload: event_loop changes only on restart");
  next->event_loop = current_->event_loop;
  if (next->user != current_->user) LOG_WARN("reload: user changes only on restart");
  next->user = current_->user;
  if (!(next->admin.bind == current_->admin.bind)) LOG_WARN("reload: admin.bind changes only on restart");
  next->admin.bind = current_->admin.bind;
  if (next->log.access.path != current_->log.access.path || next->log.access.format != current_->log.access.format)
    LOG_WARN("reload: log.access changes only on restart (SIGUSR1 reopens the file)");
  next->log.access = current_->log.access;
  const auto& nr = next->runtime;
  const auto& cr = current_->runtime;
  if (nr.buffer_size != cr.buffer_size || nr.buffers != cr.buffers || nr.ring_entries != cr.ring_entries ||
      nr.batch_wait != cr.batch_wait || nr.batch_wait_events != cr.batch_wait_events)
    LOG_WARN("reload: runtime changes only on restart");
  next->runtime = current_->runtime;
  r.config = next;
  std::string err;
  std::shared_ptr<const dnscache::Options> dns = modules::prepare_dns(*r.config, err);
  if (!err.empty()) {
    LOG_ERROR("reload failed: %s; keeping the running configuration", err.c_str());
    return err;
  }
  std::shared_ptr<const tls::TlsSet> tls;
  if (!load_tls(*r.config, &tls, "reload failed", &err)) {
    LOG_ERROR("reload failed: keeping the running configuration");
    return err;
  }
  std::map<std::string, Bound> bound;
  if (!bind_all(*r.config, bound, err)) {
    LOG_ERROR("reload failed: %s; keeping the running configuration", err.c_str());
    return err;
  }
  // Sockets of listeners that are gone are closed by the workers that own them.
  bound_ = std::move(bound);
  current_ = r.config;
  log::set_level(to_log_level(current_->log.level));
  publish(current_, bound_, dns, tls);
  log_dns(*current_, dns.get());
  LOG_INFO("reload ok: %zu listeners, %zu clusters", current_->listeners.size(), current_->clusters.size());
  return {};
}

void Server::drain(bool handover) {
  admin_->draining.store(true, std::memory_order_release);
  const auto kind = handover ? WorkerMessage::Kind::kHandover : WorkerMessage::Kind::kDrain;
  for (auto& w : workers_) w->post({kind, {}});
  auto deadline = std::chrono::steady_clock::now() + current_->drain_timeout;
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGQUIT}) sigaddset(&set, s);
  bool forced = false;
  for (;;) {
    bool all = true;
    for (auto& w : workers_) all &= w->finished();
    if (all) break;
    timespec ts{0, 50 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (!forced && (sig > 0 || std::chrono::steady_clock::now() >= deadline)) {
      LOG_WARN("drain %s: closing the remaining connections", sig > 0 ? "interrupted" : "timeout");
      for (auto& w : workers_) w->post({WorkerMessage::Kind::kForceClose, {}});
      forced = true;
    }
  }
  for (auto& w : workers_) w->join();
  LOG_INFO("drained; exiting");
}

}  // namespace portico::server
