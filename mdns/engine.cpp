#include "mdns/engine.hpp"

#include <algorithm>

namespace portico::mdns {

Engine::Engine(Options opts, Random& rnd)
    : opts_(std::make_unique<Options>(std::move(opts))),
      limiter_(opts_->limits.max_rate_sources, opts_->limits.rate_per_second, opts_->limits.rate_burst),
      responder_(*opts_, rnd, stats_),
      browser_(*opts_, rnd, stats_) {}

void Engine::finish(Time now, Actions& out) {
  browser_.collect_events(now, out.events);
  out.next_wakeup = std::min(responder_.next_wakeup(), browser_.next_wakeup());
}

void Engine::start(Time now, Actions& out) {
  responder_.start(now);
  browser_.start(now);
  finish(now, out);
}

void Engine::stop(Time now, Actions& out) {
  responder_.stop(now, out.out);
  browser_.stop();
  finish(now, out);
}

bool Engine::add_service(const ServiceConfig& svc, Time now, Actions& out) {
  bool ok = responder_.add_service(svc, now);
  finish(now, out);
  return ok;
}

bool Engine::remove_service(std::string_view instance, std::string_view type, Time now, Actions& out) {
  bool ok = responder_.remove_service(instance, type, now, out.out);
  finish(now, out);
  return ok;
}

void Engine::on_packet(std::span<const uint8_t> bytes, const Source& from, Time now, Actions& out) {
  ++stats_.packets_in;
  auto done = [&] { finish(now, out); };
  bool known_iface = std::any_of(opts_->interfaces.begin(), opts_->interfaces.end(),
                                 [&](const InterfaceConfig& i) { return i.index == from.ifindex; });
  if (!known_iface) {
    ++stats_.dropped_unknown_interface;
    return done();
  }
  if (!from.on_link) {  // RFC 6762 11: only on-link senders
    ++stats_.dropped_off_link;
    return done();
  }
  if ((from.from.addr.is_v4() && !opts_->ipv4) || (from.from.addr.is_v6() && !opts_->ipv6) ||
      from.from.addr.family == 0) {
    ++stats_.dropped_unknown_interface;
    return done();
  }
  if (!limiter_.allow(from.from.addr, now)) {
    ++stats_.dropped_rate_limited;
    return done();
  }
  auto msg = decode(bytes);
  if (!msg) {
    ++stats_.dropped_malformed;
    return done();
  }
  if (msg->opcode != 0 || msg->rcode != 0) {  // RFC 6762 18.3, 18.11
    ++stats_.dropped_opcode_rcode;
    return done();
  }
  bool from_mdns_port = from.from.port == kMdnsPort;
  if (msg->qr) {
    if (!from_mdns_port) {  // RFC 6762 6: responses must come from port 5353
      ++stats_.dropped_source_port;
      return done();
    }
    if (from.ttl != 255) {
      ++stats_.dropped_ttl;
      return done();
    }
    ++stats_.responses;
    responder_.on_response(*msg, from, now);
    browser_.on_response(*msg, from, now);
    return done();
  }
  if (from_mdns_port && from.ttl != 255) {  // legacy unicast queries may have any TTL
    ++stats_.dropped_ttl;
    return done();
  }
  ++stats_.queries;
  if (!from_mdns_port) ++stats_.legacy_queries;
  responder_.on_query(*msg, from, now, out.out);
  done();
}

void Engine::on_timer(Time now, Actions& out) {
  responder_.on_timer(now, out.out);
  browser_.on_timer(now, out.out);
  finish(now, out);
}

}  // namespace portico::mdns
