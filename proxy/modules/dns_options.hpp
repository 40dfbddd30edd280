#pragma once
// Maps the `dns:` config section to dnscache::Options (upstreams from
// /etc/resolv.conf when none are configured). Called by the main thread at
// start-up and on reload; the result is shared read-only with the workers.

#include <sys/socket.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "dnscache/options.hpp"

namespace portico::modules {

// The `nameserver` addresses of resolv.conf text (port 53; IPv6 scope ids such
// as fe80::1%eth0 resolved). Other lines, comments and bad addresses are skipped.
std::vector<sockaddr_storage> parse_resolv_conf(std::string_view text);

// conf::Dns -> engine options. `resolv_conf` is read only when d.upstreams is
// empty (a missing file gives no upstreams: misses are answered SERVFAIL).
// False with `err` set when a value cannot be mapped.
bool dns_options_from_config(const conf::Dns& d, dnscache::Options& out, std::string& err,
                             const char* resolv_conf = "/etc/resolv.conf");

// Options for the config's DNS server, checked by building a throwaway engine
// (zone files and records load). nullptr without error when `dns` is absent;
// nullptr with `err` on failure.
std::shared_ptr<const dnscache::Options> prepare_dns(const conf::Config& c, std::string& err);

}  // namespace portico::modules
