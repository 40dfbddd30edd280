#include "proxy/server/worker.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/base/log.hpp"
#include "proxy/server/listener.hpp"

namespace portico::server {

namespace {
constexpr TimeNs kHousekeeping = kNsPerSec;
}

Worker::Worker(uint32_t id, int cpu, io::Backend backend, bool allow_fallback, io::LoopOptions opts)
    : id_(id), cpu_(cpu), backend_(backend), allow_fallback_(allow_fallback), opts_(opts),
      wake_op_(this, 0), housekeeping_(this, 0) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

Worker::~Worker() {
  join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::future<std::string> Worker::start() {
  std::promise<std::string> ready;
  auto fut = ready.get_future();
  thread_ = std::thread([this, p = std::move(ready)]() mutable { run(std::move(p)); });
  return fut;
}

bool Worker::wait_configured(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (configs_applied_.load(std::memory_order_acquire) == 0) {
    if (finished() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post(WorkerMessage msg) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.push_back(std::move(msg));
  }
  uint64_t one = 1;
  ssize_t r = ::write(wake_fd_, &one, sizeof one);
  (void)r;
}

void Worker::run(std::promise<std::string> ready) {
  char name[16];
  std::snprintf(name, sizeof name, "w%u", id_);
  log::set_thread_name(name);
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  std::string why;
  loop_ = io::make_loop(backend_, opts_, why);
  if (!loop_ && backend_ == io::Backend::kIoUring && allow_fallback_) {
    LOG_WARN("io_uring unavailable on this worker (%s); using epoll", why.c_str());
    loop_ = io::make_loop(io::Backend::kEpoll, opts_, why);
  }
  if (!loop_) {
    ready.set_value("worker " + std::to_string(id_) + ": " + why);
    finished_.store(true, std::memory_order_release);
    return;
  }
  backend_name_.store(loop_->name());
  env_.loop = loop_.get();
  env_.worker_id = id_;
  env_.stats = &stats_;
  arm_wake();
  loop_->timers().arm(housekeeping_, loop_->now() + kHousekeeping);
  ready.set_value("");

  while (!exit_) {
    loop_->run_once(admin_ && draining_ ? 50 * kNsPerMs : -1);
    if (!retiring_.empty()) sweep();
    if (!probers_retiring_.empty()) std::erase_if(probers_retiring_, [](const auto& p) { return p->stopped(); });
    if (!discoveries_retiring_.empty())
      std::erase_if(discoveries_retiring_, [](const auto& d) { return d->stopped(); });
    if (draining_ && env_.sessions == 0 && retiring_.empty() && listeners_.empty() &&
        (!dns_ || dns_->stopped()) && !mdns_busy() && probers_retiring_.empty() &&
        discoveries_retiring_.empty()) {
      if (admin_shared_ && !drain_counted_) admin_shared_->workers_left.fetch_sub(1), drain_counted_ = true;
      // The admin endpoint (/ready says 503) stays up until every worker drained.
      if (!admin_ || admin_shared_->workers_left.load() == 0) exit_ = true;
    }
  }
  if (admin_) {
    admin_->stop();
    for (int i = 0; i < 100 && !admin_->idle(); ++i) loop_->run_once(10 * kNsPerMs);
    admin_.reset();
  }
  // A forced exit may leave the mDNS module busy: cancel and wait (bounded).
  if (mdns_) retire_mdns();
  for (auto& m : mdns_retiring_) m->abort();
  for (int i = 0; i < 100 && mdns_busy(); ++i) loop_->run_once(10 * kNsPerMs);
  retire_probers();
  for (int i = 0; i < 100 && !(probers_retiring_.empty() && discoveries_retiring_.empty()); ++i) {
    loop_->run_once(10 * kNsPerMs);
    std::erase_if(probers_retiring_, [](const auto& p) { return p->stopped(); });
    std::erase_if(discoveries_retiring_, [](const auto& d) { return d->stopped(); });
  }
  // Leave nothing armed behind: stop the eventfd read and let it complete.
  loop_->timers().cancel(housekeeping_);
  loop_->cancel(wake_op_);
  for (int i = 0; i < 100 && wake_op_.armed(); ++i) loop_->run_once(10 * kNsPerMs);
  listeners_.clear();
  retiring_.clear();
  dns_.reset();
  mdns_retiring_.clear();
  http_.reset();  // closes idle upstream connections (runs the loop briefly)
  generations_.clear();
  LOG_DEBUG("worker stopped");
  finished_.store(true, std::memory_order_release);
}

void Worker::arm_wake() { loop_->read(wake_op_, wake_fd_, &wake_value_, sizeof wake_value_); }

void Worker::on_complete(io::Op&, int res) {
  if (res == -ECANCELED) return;
  std::vector<WorkerMessage> msgs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    msgs.swap(inbox_);
  }
  for (auto& m : msgs) handle(m);
  if (!exit_) arm_wake();
}

void Worker::on_timer(io::Timer&) {
  sweep();
  mirror_dns_stats();
  loop_->timers().arm(housekeeping_, loop_->now() + kHousekeeping);
}

void Worker::handle(WorkerMessage& m) {
  switch (m.kind) {
    case WorkerMessage::Kind::kConfig: apply(m.config); break;
    case WorkerMessage::Kind::kDrain: drain(); break;
    case WorkerMessage::Kind::kHandover: drain(true); break;
    case WorkerMessage::Kind::kForceClose:
      drain();
      env_.abort_all();
      for (auto& mod : mdns_retiring_) mod->abort();
      break;
    case WorkerMessage::Kind::kReopenLogs:
      if (http_) http_->access_log.reopen();
      break;
  }
}

void Worker::apply(WorkerConfig& wc) {
  if (draining_) return;  // the main thread sends no config once draining began
  if (!http_) http_ = std::make_unique<http::HttpWorker>(loop_.get(), wc.config->log.access);
  if (wc.admin && !admin_shared_) admin_shared_ = wc.admin;
  if (wc.admin_fd >= 0 && !admin_) {
    admin_ = std::make_unique<AdminServer>(loop_.get(), wc.admin_fd, wc.admin);
    admin_->start();
  }
  auto gen = std::make_unique<l4::Generation>(wc.config, wc.clusters, id_);
  if (std::string err; !gen->build_tls(wc.tls, &err)) {
    LOG_ERROR("worker %u: %s; keeping the running configuration", id_, err.c_str());
    return;
  }
  l4::Generation* g = gen.get();
  g->attach_stats(stats_);
  for (const WorkerConfig::Listener& sock : wc.listeners) g->listener_shared.push_back(sock.shared);
  generations_.push_back(std::move(gen));
  std::map<std::string, std::unique_ptr<WorkerListener>> next;
  const auto& ls = wc.config->listeners;
  for (size_t i = 0; i < ls.size(); ++i) {
    const WorkerConfig::Listener& sock = wc.listeners[i];
    place_listener(ls[i].name, ls[i], sock.fd, sock.shared.get(), g, next);
    // Extra sockets run as more listeners of the same name ('\n' never appears in a name).
    for (size_t k = 0; k < sock.extra_fds.size(); ++k)
      place_listener(ls[i].name + "\n" + std::to_string(k + 1), ls[i], sock.extra_fds[k], sock.shared.get(), g, next);
  }
  // Listeners gone from the config (or rebound elsewhere) stop accepting;
  // their sessions finish on the generation they started on.
  for (auto& [name, wl] : listeners_) {
    wl->stop();
    retiring_.push_back(std::move(wl));
  }
  listeners_ = std::move(next);
  if (wc.dns.options && !dns_) dns_ = std::make_unique<modules::DnsModule>(loop_.get());
  if (dns_) dns_->apply(wc.dns);
  apply_mdns(wc);
  apply_health_checks(wc);
  sweep();
  configs_applied_.fetch_add(1, std::memory_order_release);
}

// Keeps the running listener under `key` if it has the same socket (new
// connections get the new settings), else starts one on `fd`.
void Worker::place_listener(const std::string& key, const conf::Listener& l, int fd, l4::ListenerShared* shared,
                            l4::Generation* g, std::map<std::string, std::unique_ptr<WorkerListener>>& next) {
  auto it = listeners_.find(key);
  if (it != listeners_.end() && it->second->fd() == fd) {
    it->second->configure(g, &l);
    next.emplace(key, std::move(it->second));
    listeners_.erase(it);
    return;
  }
  auto wl = WorkerListener::create(&env_, http_.get(), l, fd, shared);
  wl->configure(g, &l);
  wl->start();
  next.emplace(key, std::move(wl));
}

// Each cluster's active checks run on one worker: cluster index % workers.
void Worker::apply_health_checks(const WorkerConfig& wc) {
  retire_probers();
  for (size_t i = 0; i < wc.clusters.size(); ++i) {
    if (!wc.clusters[i] || i % std::max<uint32_t>(wc.workers, 1) != id_) continue;
    const conf::Discovery::Kind kind = wc.clusters[i]->config().discovery.kind;
    if (kind == conf::Discovery::Kind::kDns || kind == conf::Discovery::Kind::kDnsSrv) {
      // the cluster's own discovery.nameserver wins
      const auto& own = wc.clusters[i]->config().discovery.nameserver;
      const auto& ns = own ? own : wc.discovery_nameserver;
      if (!ns) {
        LOG_ERROR("cluster %s: discovery: no nameserver (no dns: module, none in /etc/resolv.conf)",
                  wc.clusters[i]->name().c_str());
      } else {
        auto d = std::make_unique<cluster::DnsDiscovery>(loop_.get(), wc.clusters[i], *ns,
                                                         (uint64_t(id_) << 32) ^ (i + 0x5eed));
        d->start();
        discoveries_.push_back(std::move(d));
      }
    }
    if (kind == conf::Discovery::Kind::kMdns) {
      auto d = std::make_unique<cluster::MdnsDiscovery>(loop_.get(), wc.clusters[i], wc.mdns_table);
      d->start();
      mdns_discoveries_.push_back(std::move(d));
    }
    if (!wc.clusters[i]->config().health_check) continue;
    auto p = std::make_unique<cluster::HealthProber>(loop_.get(), wc.clusters[i], (uint64_t(id_) << 32) ^ (i + 1));
    p->start();
    probers_.push_back(std::move(p));
  }
}

void Worker::retire_probers() {
  mdns_discoveries_.clear();
  for (auto& d : discoveries_) {
    d->stop();
    discoveries_retiring_.push_back(std::move(d));
  }
  discoveries_.clear();
  for (auto& p : probers_) {
    p->stop();
    probers_retiring_.push_back(std::move(p));
  }
  probers_.clear();
}

// mDNS runs on worker 0 only: one responder per host, one set of multicast sockets.
void Worker::apply_mdns(const WorkerConfig& wc) {
  if (id_ != 0) return;
  if (!wc.config->mdns) {
    if (mdns_) retire_mdns();
    return;
  }
  if (!mdns_) mdns_ = std::make_unique<modules::MdnsModule>(loop_.get(), wc.mdns_table);
  mdns_->apply(*wc.config);
}

void Worker::retire_mdns() {
  mdns_->stop();  // goodbyes; the sockets close once they are sent
  mdns_retiring_.push_back(std::move(mdns_));
}

bool Worker::mdns_busy() {
  std::erase_if(mdns_retiring_, [](const auto& m) { return !m->busy(); });
  return mdns_ != nullptr || !mdns_retiring_.empty();
}

void Worker::drain(bool handover) {
  if (draining_) return;
  draining_ = true;
  for (auto& [name, wl] : listeners_) {
    wl->stop();
    retiring_.push_back(std::move(wl));
  }
  listeners_.clear();
  // Connections finish what they are doing; HTTP ones close after their
  // current exchange (Connection: close) or once idle (l4::WorkerEnv::drain_all).
  env_.drain_all();
  if (dns_) dns_->drain();
  if (admin_ && handover) admin_->stop_accepting();
  if (mdns_ && handover) {
    mdns_->abort();
    mdns_retiring_.push_back(std::move(mdns_));
  }
  if (mdns_) retire_mdns();
  retire_probers();
  LOG_DEBUG("draining: %zu sessions open", env_.sessions);
}

// The DNS engine's counters are plain (engine thread only): copy them for the admin endpoint.
void Worker::mirror_dns_stats() {
  const dnscache::Stats* e = dns_ ? dns_->engine_stats() : nullptr;
  if (!e) return;
  l4::DnsStats& d = stats_.dns();
  d.queries.set(e->queries);
  d.cache_hits.set(e->cache_hits);
  d.cache_misses.set(e->cache_misses);
  d.stale_answers.set(e->stale_answers);
  d.local_answers.set(e->local_answers);
  d.servfail.set(e->servfail);
  d.refused.set(e->refused);
  d.upstream_timeouts.set(e->upstream_timeouts);
  d.cache_entries.set(e->cache_entries);
}

void Worker::sweep() {
  mdns_busy();  // frees retired mDNS modules that finished their goodbyes
  std::erase_if(probers_retiring_, [](const auto& p) { return p->stopped(); });
  std::erase_if(discoveries_retiring_, [](const auto& d) { return d->stopped(); });
  for (size_t i = 0; i < retiring_.size();) {
    if (retiring_[i]->stopped()) {
      retiring_.erase(retiring_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
  // Free generations nothing pins any more (keep the newest).
  for (size_t i = 0; i + 1 < generations_.size();) {
    // Retiring listeners still point at old generations but create nothing new.
    if (generations_[i]->refs == 0) {
      generations_.erase(generations_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
}

}  // namespace portico::server
