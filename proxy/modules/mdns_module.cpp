#include "proxy/modules/mdns_module.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "proxy/base/log.hpp"
#include "proxy/modules/mdns_options.hpp"

namespace portico::modules {

namespace {

constexpr uint8_t kTagRecv = 0;
constexpr uint8_t kTagSend = 1;

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A value printed bare when it is a plain token, quoted otherwise.
std::string token(const std::string& s) {
  bool plain = !s.empty();
  for (unsigned char c : s) plain &= c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
  return plain ? s : quote(s);
}

std::string txt_text(const std::vector<mdns::TxtEntry>& txt) {
  std::string out;
  for (const auto& e : txt) {
    if (!out.empty()) out += ' ';
    out += e.has_value ? e.key + "=" + e.value : e.key;
  }
  return quote(out);
}

std::string names_text(const std::vector<MdnsInterface>& ifaces) {
  std::string out;
  for (const auto& i : ifaces) {
    if (!out.empty()) out += ',';
    out += i.name;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

uint64_t MdnsModule::SslRandom::next_u64() {
  uint64_t v = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&v), sizeof v);
  return v;
}

MdnsModule::MdnsModule(io::Loop* loop, std::shared_ptr<MdnsTable> table, MdnsModuleLimits limits)
    : loop_(loop), table_(std::move(table)), limits_(limits), timer_(this, 0) {
  socks_[0].family = AF_INET;
  socks_[1].family = AF_INET6;
  for (int i = 0; i < 2; ++i) {
    socks_[i].recv_op.bind(this, static_cast<uint8_t>(i * 2 + kTagRecv));
    socks_[i].send_op.bind(this, static_cast<uint8_t>(i * 2 + kTagSend));
  }
}

MdnsModule::~MdnsModule() {
  loop_->timers().cancel(timer_);
  // The owner waited for !busy(); a socket still open here has nothing armed on it.
  for (auto& s : socks_)
    if (s.fd >= 0 && !s.recv_op.armed() && !s.send_op.armed()) {
      loop_->close(s.fd);
      s.fd = -1;
    }
}

mdns::Time MdnsModule::now() const {
  return mdns::Time(std::chrono::duration_cast<mdns::Clock::duration>(std::chrono::nanoseconds(loop_->now())));
}

bool MdnsModule::busy() const {
  for (const auto& s : socks_)
    if (s.fd >= 0 || s.recv_op.armed() || s.send_op.armed()) return true;
  return false;
}

const MdnsInterface* MdnsModule::iface(uint32_t index) const {
  for (const auto& i : ifaces_)
    if (i.index == index) return &i;
  return nullptr;
}

bool MdnsModule::wanted(const Sock& s) const {
  if (stopping_ || !settings_) return false;
  return s.family == AF_INET ? settings_->ipv4 : settings_->ipv6;
}

// ---- configuration ----------------------------------------------------------------------

bool MdnsModule::apply(const conf::Config& c) {
  if (stopping_ || !c.mdns) return false;
  mdns::Options o;
  std::string err;
  if (!build_mdns_options(c, o, err)) {
    LOG_ERROR("%s; %s", err.c_str(),
              engine_ ? "mdns keeps its running settings" : "mdns is not started");
    return false;
  }
  if (engine_ && settings_ && same_settings(*settings_, o) && interface_names_ == c.mdns->interfaces)
    return true;
  if (engine_ && settings_ && same_except_services(*settings_, o) && interface_names_ == c.mdns->interfaces) {
    update_services(o.services);  // the browser keeps its cache; goodbyes only for removed ones
    settings_->services = std::move(o.services);
    return true;
  }
  stop_engine();  // goodbyes for what the old settings published
  settings_ = std::move(o);
  interface_names_ = c.mdns->interfaces;
  open_sockets();
  rescan(true);
  return true;
}

void MdnsModule::open_sockets() {
  for (auto& s : socks_) {
    if (!wanted(s)) {
      loop_->cancel(s.recv_op);  // closed once idle (close_idle_sockets)
      for (uint32_t idx : s.joined) leave_group(s.fd, s.family, idx);
      s.joined.clear();
      continue;
    }
    if (s.fd >= 0) continue;
    std::string err;
    s.fd = open_mdns_socket(s.family, limits_.port, err);
    if (s.fd < 0) {
      // Retried at each rescan; said once at error level, then at debug level.
      PORTICO_LOG(s.open_failed ? log::Level::kDebug : log::Level::kError,
                  "mdns: %s socket on port %u: %s (retried every %lld s)", s.family == AF_INET ? "IPv4" : "IPv6",
                  limits_.port, err.c_str(), static_cast<long long>(limits_.rescan_interval / kNsPerSec));
      s.open_failed = true;
      continue;
    }
    s.open_failed = false;
    arm_recv(s);
  }
  close_idle_sockets();
}

bool MdnsModule::rescan(bool force_restart) {
  std::vector<MdnsInterface> found;
  std::vector<std::string> missing;
  std::string err;
  next_rescan_ = loop_->now() + limits_.rescan_interval;
  if (!scan_interfaces(interface_names_, settings_->ipv4, settings_->ipv6, found, missing, err)) {
    LOG_WARN("mdns: %s", err.c_str());
    return false;
  }
  bool reopen = false;
  for (auto& s : socks_) reopen |= wanted(s) && s.fd < 0;
  if (reopen) open_sockets();
  if (!engine_) force_restart = true;  // the first start failed (getifaddrs): start now
  if (!force_restart && found == ifaces_ && !reopen) return false;
  if (force_restart || found != ifaces_) {
    for (const auto& m : missing) LOG_WARN("mdns: interface %s not found", m.c_str());
    if (!force_restart) LOG_INFO("mdns: interfaces changed: %s (engine restarted)", names_text(found).c_str());
  }
  stop_engine();
  ifaces_ = std::move(found);
  sync_membership();
  start_engine();
  return true;
}

void MdnsModule::sync_membership() {
  for (auto& s : socks_) {
    if (s.fd < 0 || !wanted(s)) continue;
    std::vector<uint32_t> keep;
    for (uint32_t idx : s.joined) {
      if (iface(idx)) {
        keep.push_back(idx);
      } else {
        leave_group(s.fd, s.family, idx);
      }
    }
    s.joined = std::move(keep);
    for (const auto& i : ifaces_) {
      if (std::find(s.joined.begin(), s.joined.end(), i.index) != s.joined.end()) continue;
      bool has_family = false;
      for (const auto& a : i.addresses) has_family |= (s.family == AF_INET) == a.is_v4();
      if (!has_family) continue;  // e.g. no IPv4 address on it: the engine does not use it
      std::string err;
      if (join_group(s.fd, s.family, i.index, err)) {
        s.joined.push_back(i.index);
      } else {
        LOG_WARN("mdns: %s on %s: %s", s.family == AF_INET ? "224.0.0.251" : "ff02::fb", i.name.c_str(), err.c_str());
      }
    }
    if (!ifaces_.empty()) set_multicast_interface(s.fd, s.family, ifaces_.front().index);
  }
}

void MdnsModule::update_services(const std::vector<mdns::ServiceConfig>& wanted_services) {
  auto in = [](const std::vector<mdns::ServiceConfig>& list, const mdns::ServiceConfig& s) {
    return std::any_of(list.begin(), list.end(), [&](const mdns::ServiceConfig& x) { return same_service(x, s); });
  };
  for (size_t i = 0; i < live_services_.size();) {
    if (in(wanted_services, live_services_[i])) {
      ++i;
      continue;
    }
    actions_.clear();
    engine_->remove_service(live_services_[i].instance, live_services_[i].type, now(), actions_);
    LOG_INFO("mdns: withdrew service %s type=%s", quote(service_names_[i]).c_str(), live_services_[i].type.c_str());
    live_services_.erase(live_services_.begin() + long(i));
    service_names_.erase(service_names_.begin() + long(i));
    handle(actions_);
  }
  for (const auto& s : wanted_services) {
    if (in(live_services_, s)) continue;
    actions_.clear();
    if (engine_->add_service(s, now(), actions_)) {
      live_services_.push_back(s);
      service_names_.push_back(s.instance);
      LOG_INFO("mdns: added service %s type=%s port=%u", quote(s.instance).c_str(), s.type.c_str(), s.port);
    } else {
      LOG_WARN("mdns: service %s type=%s not published (invalid, or its name is in use)", quote(s.instance).c_str(),
               s.type.c_str());
    }
    handle(actions_);
  }
}

// ---- engine -----------------------------------------------------------------------------

void MdnsModule::start_engine() {
  mdns::Options o = *settings_;
  for (const auto& i : ifaces_) o.interfaces.push_back({i.index, i.name, i.addresses});
  std::vector<std::string> browse = o.browse;
  const size_t services = o.services.size();
  live_services_ = o.services;
  engine_ = std::make_unique<mdns::Engine>(std::move(o), random_);
  table_->reset(browse, true);
  established_ = false;
  conflicts_seen_ = 0;
  host_name_ = engine_->hostname();
  service_names_ = engine_->service_names();
  std::string types;
  for (const auto& b : browse) {
    if (!types.empty()) types += ',';
    types += b;
  }
  LOG_INFO("mdns: started host=%s.local interfaces=%s services=%zu browse=%s", host_name_.c_str(),
           names_text(ifaces_).c_str(), services, types.empty() ? "none" : types.c_str());
  if (ifaces_.empty())
    LOG_WARN("mdns: no usable interface (up, multicast, with an address); rechecked every %lld s",
             static_cast<long long>(limits_.rescan_interval / kNsPerSec));
  actions_.clear();
  engine_->start(now(), actions_);
  handle(actions_);
}

void MdnsModule::stop_engine() {
  if (!engine_) return;
  const mdns::Stats& st = engine_->stats();
  LOG_DEBUG("mdns: engine stats: in=%llu out=%llu queries=%llu responses=%llu dropped: interface=%llu "
            "off_link=%llu rate=%llu malformed=%llu opcode=%llu ttl=%llu port=%llu; conflicts=%llu "
            "signature_rejects=%llu cache_evictions=%llu send_errors=%llu send_dropped=%llu",
            (unsigned long long)st.packets_in, (unsigned long long)st.packets_out, (unsigned long long)st.queries,
            (unsigned long long)st.responses, (unsigned long long)st.dropped_unknown_interface,
            (unsigned long long)st.dropped_off_link, (unsigned long long)st.dropped_rate_limited,
            (unsigned long long)st.dropped_malformed, (unsigned long long)st.dropped_opcode_rcode,
            (unsigned long long)st.dropped_ttl, (unsigned long long)st.dropped_source_port,
            (unsigned long long)st.conflicts, (unsigned long long)st.signature_rejects,
            (unsigned long long)st.cache_evictions, (unsigned long long)send_errors_,
            (unsigned long long)send_dropped_);
  actions_.clear();
  engine_->stop(now(), actions_);
  actions_.events.clear();  // the table is reset below; no per-instance lines for a restart
  handle(actions_);
  engine_.reset();
  engine_wakeup_ = -1;
  table_->reset(settings_ ? settings_->browse : std::vector<std::string>{}, true);
}

void MdnsModule::handle(mdns::Actions& a) {
  for (auto& p : a.out) {
    Sock* s = sock_for(p.dst);
    if (!s || s->fd < 0 || s->aborted) continue;
    if (s->queue.size() >= limits_.max_send_queue) {
      ++send_dropped_;
      continue;
    }
    s->queue.push_back(std::move(p));
    if (!s->send_op.armed()) send_next(*s);
  }
  std::vector<std::string> touched;
  for (const auto& e : a.events) {
    log_event(e);
    if (std::find(touched.begin(), touched.end(), e.instance.type) == touched.end())
      touched.push_back(e.instance.type);
  }
  if (!touched.empty()) publish(touched);
  engine_wakeup_ = -1;
  if (engine_ && a.next_wakeup != mdns::kNever)
    engine_wakeup_ = std::chrono::duration_cast<std::chrono::nanoseconds>(a.next_wakeup.time_since_epoch()).count();
  a.clear();
  if (engine_) check_names();
  arm_timer();
}

void MdnsModule::check_names() {
  if (engine_->stats().conflicts != conflicts_seen_) {
    conflicts_seen_ = engine_->stats().conflicts;
    std::string host = engine_->hostname();
    if (host != host_name_) LOG_INFO("mdns: renamed host %s -> %s", host_name_.c_str(), host.c_str());
    host_name_ = std::move(host);
    std::vector<std::string> names = engine_->service_names();
    for (size_t i = 0; i < names.size() && i < service_names_.size(); ++i)
      if (names[i] != service_names_[i])
        LOG_INFO("mdns: renamed service %s -> %s type=%s", quote(service_names_[i]).c_str(), quote(names[i]).c_str(),
                 i < live_services_.size() ? live_services_[i].type.c_str() : "?");
    service_names_ = std::move(names);
  }
  bool est = engine_->established();
  if (est && !established_) {
    std::string names;
    for (const auto& n : service_names_) {
      if (!names.empty()) names += ',';
      names += quote(n);
    }
    LOG_INFO("mdns: established host=%s.local services=%s", host_name_.c_str(), names.empty() ? "none" : names.c_str());
  }
  established_ = est;
}

void MdnsModule::log_event(const mdns::BrowseEvent& e) {
  const mdns::Instance& i = e.instance;
  const MdnsInterface* f = iface(i.ifindex);
  const std::string ifname = f ? f->name : std::to_string(i.ifindex);
  if (e.kind == mdns::BrowseEvent::Kind::kRemoved) {
    LOG_INFO("mdns: removed type=%s instance=%s host=%s port=%u interface=%s", token(i.type).c_str(),
             quote(i.name).c_str(), token(i.host).c_str(), i.port, token(ifname).c_str());
    return;
  }
  LOG_INFO("mdns: %s type=%s instance=%s host=%s port=%u interface=%s addresses=%s txt=%s",
           e.kind == mdns::BrowseEvent::Kind::kAdded ? "added" : "updated", token(i.type).c_str(),
           quote(i.name).c_str(), token(i.host).c_str(), i.port, token(ifname).c_str(),
           join_addresses(i.addresses).c_str(), txt_text(i.txt).c_str());
}

void MdnsModule::publish(const std::vector<std::string>& types) {
  if (!engine_) return;
  const std::string self = lower(engine_->hostname() + ".local");
  for (const auto& t : types) {
    std::vector<MdnsInstance> list;
    for (const auto& i : engine_->instances(t)) {
      MdnsInstance m;
      m.instance = i;
      const MdnsInterface* f = iface(i.ifindex);
      m.interface = f ? f->name : std::to_string(i.ifindex);
      m.self = lower(i.host) == self;
      list.push_back(std::move(m));
    }
    table_->publish(t, std::move(list));
  }
}

// ---- timer ------------------------------------------------------------------------------

void MdnsModule::arm_timer() {
  if (stopping_) {
    loop_->timers().cancel(timer_);
    return;
  }
  TimeNs deadline = next_rescan_;
  if (engine_wakeup_ >= 0) deadline = std::min(deadline, engine_wakeup_);
  if (retry_at_ >= 0) deadline = std::min(deadline, retry_at_);
  if (!timer_.armed() || timer_.deadline() != deadline) loop_->timers().arm(timer_, deadline);
}

void MdnsModule::on_timer(io::Timer&) {
  if (stopping_) return;
  const TimeNs t = loop_->now();
  if (retry_at_ >= 0 && t >= retry_at_) {
    retry_at_ = -1;
    for (auto& s : socks_)
      if (s.recv_failed && s.fd >= 0 && wanted(s) && !s.recv_op.armed()) arm_recv(s);
  }
  if (t >= next_rescan_ && settings_) rescan(false);
  if (engine_ && engine_wakeup_ >= 0 && t >= engine_wakeup_) {
    actions_.clear();
    engine_->on_timer(now(), actions_);
    handle(actions_);
  }
  arm_timer();
}

// ---- sockets ----------------------------------------------------------------------------

MdnsModule::Sock* MdnsModule::sock_for(const mdns::Destination& d) {
  switch (d.kind) {
    case mdns::Destination::Kind::kMulticastV4: return &socks_[0];
    case mdns::Destination::Kind::kMulticastV6: return &socks_[1];
    case mdns::Destination::Kind::kUnicast:
      if (d.unicast.addr.is_v4()) return &socks_[0];
      if (d.unicast.addr.is_v6()) return &socks_[1];
      return nullptr;
  }
  return nullptr;
}

void MdnsModule::arm_recv(Sock& s) {
  s.recv_failed = false;
  s.riov.iov_base = s.rbuf.data();
  s.riov.iov_len = s.rbuf.size();
  s.rmsg = msghdr{};
  s.rmsg.msg_name = &s.rfrom;
  s.rmsg.msg_namelen = sizeof s.rfrom;
  s.rmsg.msg_iov = &s.riov;
  s.rmsg.msg_iovlen = 1;
  s.rmsg.msg_control = s.rctl;
  s.rmsg.msg_controllen = sizeof s.rctl;
  loop_->recvmsg(s.recv_op, s.fd, &s.rmsg);
}

void MdnsModule::on_complete(io::Op& op, int res) {
  Sock& s = socks_[op.tag() / 2];
  if (op.tag() % 2 == kTagRecv) {
    on_received(s, res);
  } else {
    on_sent(s, res);
  }
  close_idle_sockets();
}

void MdnsModule::on_received(Sock& s, int res) {
  if (res == -ECANCELED || !wanted(s) || s.fd < 0) return;
  if (res < 0) {
    LOG_DEBUG("mdns: recvmsg: %s", std::strerror(-res));
    s.recv_failed = true;
    retry_at_ = loop_->now() + limits_.receive_retry;
    arm_timer();
    return;
  }
  ReceivedInfo info;
  if (engine_ && !(s.rmsg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && parse_received(s.rmsg, s.family, info)) {
    const MdnsInterface* f = iface(info.ifindex);
    mdns::Source src{info.from, info.ifindex, info.ttl, f && on_link(*f, info.from.addr), info.to_multicast};
    LOG_DEBUG("mdns: %d bytes from %s port %u interface=%u ttl=%d on_link=%d multicast=%d", res,
              info.from.addr.to_string().c_str(), info.from.port, info.ifindex, info.ttl, int(src.on_link),
              int(src.to_multicast));
    actions_.clear();
    engine_->on_packet(std::span<const uint8_t>(s.rbuf.data(), static_cast<size_t>(res)), src, now(), actions_);
    handle(actions_);
  }
  arm_recv(s);
}

void MdnsModule::send_next(Sock& s) {
  while (!s.queue.empty() && !s.aborted) {
    mdns::Packet& p = s.queue.front();
    s.smsg = msghdr{};
    if (!prepare_send(s.smsg, s.sto, s.sctl, sizeof s.sctl, s.family, p.dst, p.ifindex)) {
      s.queue.pop_front();
      continue;
    }
    s.siov.iov_base = p.bytes.data();
    s.siov.iov_len = p.bytes.size();
    s.smsg.msg_iov = &s.siov;
    s.smsg.msg_iovlen = 1;
    loop_->sendmsg(s.send_op, s.fd, &s.smsg);
    return;
  }
}

void MdnsModule::on_sent(Sock& s, int res) {
  if (res < 0 && res != -ECANCELED) {
    ++send_errors_;
    const MdnsInterface* f = s.queue.empty() ? nullptr : iface(s.queue.front().ifindex);
    LOG_DEBUG("mdns: sendmsg on %s: %s", f ? f->name.c_str() : "?", std::strerror(-res));
  }
  if (!s.queue.empty()) s.queue.pop_front();
  send_next(s);
}

void MdnsModule::close_idle_sockets() {
  for (auto& s : socks_) {
    if (s.fd < 0 || wanted(s) || s.recv_op.armed() || s.send_op.armed()) continue;
    if (!s.queue.empty() && !s.aborted) continue;
    s.queue.clear();
    s.joined.clear();
    loop_->close(s.fd);  // also leaves the groups
    s.fd = -1;
  }
}

// ---- shutdown ---------------------------------------------------------------------------

void MdnsModule::stop() {
  if (stopping_) return;
  stop_engine();  // queues the goodbyes; they are sent before the sockets close
  stopping_ = true;
  table_->reset({}, true);
  loop_->timers().cancel(timer_);
  for (auto& s : socks_) loop_->cancel(s.recv_op);
  LOG_INFO("mdns: stopped (goodbyes sent)");
  close_idle_sockets();
}

void MdnsModule::abort() {
  stopping_ = true;
  engine_.reset();
  table_->reset({}, true);
  loop_->timers().cancel(timer_);
  for (auto& s : socks_) {
    s.aborted = true;
    // Keep the datagram in flight alive until its completion; drop the rest.
    while (s.queue.size() > (s.send_op.armed() ? 1u : 0u)) s.queue.pop_back();
    loop_->cancel(s.recv_op);
    loop_->cancel(s.send_op);
  }
  close_idle_sockets();
}

}  // namespace portico::modules
