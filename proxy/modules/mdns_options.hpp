#pragma once
// Maps the `mdns:` config section (conf::Mdns) to the engine's mdns::Options: services,
// advertised listeners, browse types, signing keys (read from their PEM files here).
// Free functions, used by the mdns module on worker 0 at config load and reload.

#include <string>
#include <vector>

#include "conf/config.hpp"
#include "mdns/options.hpp"

namespace portico::modules {

// Engine options for `c` (which must have an mdns section), without interfaces (the module
// fills them from the system). Reads signing.key and signing.trusted_keys: any file that
// cannot be read or parsed is an error (never run unsigned or trust-everything by
// accident). Returns false with `err` set on failure.
bool build_mdns_options(const conf::Config& c, mdns::Options& out, std::string& err);

// The services advertise_listeners adds: one `_http._tcp` per plain-HTTP listener bound to
// an IPv4/IPv6 address that is not loopback, named "<hostname> <listener name>" (clipped
// to 63 bytes). TLS listeners (`_https._tcp`) come with TLS support.
std::vector<mdns::ServiceConfig> advertised_listeners(const conf::Config& c);

// True when the two option sets publish and browse the same things (interfaces excluded).
bool same_settings(const mdns::Options& a, const mdns::Options& b);
// The same, ignoring the services (those can change on a running engine).
bool same_except_services(const mdns::Options& a, const mdns::Options& b);
bool same_service(const mdns::ServiceConfig& a, const mdns::ServiceConfig& b);

}  // namespace portico::modules
