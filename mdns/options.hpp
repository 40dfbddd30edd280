#pragma once
// Configuration of one mDNS Engine, filled by the glue (proxy/modules) from conf::Config.
// Copied into the Engine at construction; the Engine never reads files or the system.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mdns/types.hpp"

namespace portico::mdns {

struct InterfaceConfig {
  uint32_t index = 0;                // OS interface index, as in Source::ifindex
  std::string name;                  // "eth0", for logs only
  std::vector<IpAddress> addresses;  // published as A / AAAA on this interface
};

struct ServiceConfig {
  std::string instance;               // "Portico web" (one DNS label, UTF-8, <= 63 bytes)
  std::string type;                   // "_http._tcp"
  std::vector<std::string> subtypes;  // "_printer" -> _printer._sub._http._tcp.local
  uint16_t port = 0;
  std::vector<TxtEntry> txt;          // empty -> a TXT record with one empty string
  uint16_t priority = 0;
  uint16_t weight = 0;
};

struct SigningOptions {
  // Ed25519 private key in BoringSSL's 64-byte form (seed || public); see signing.hpp
  // for loading it from PEM. Absent = services are published unsigned.
  std::optional<std::array<uint8_t, 64>> private_key;
  // Non-empty = the browser reports only instances signed by one of these keys.
  std::vector<std::array<uint8_t, 32>> trusted_keys;
};

struct Limits {
  uint32_t host_ttl_s = 120;                  // A, AAAA, SRV, host NSEC (RFC 6762 10)
  uint32_t service_ttl_s = 4500;              // PTR, TXT, instance NSEC
  size_t max_packet_size = 1440;              // bytes of DNS payload per datagram
  size_t max_cache_entries = 4096;            // browser cache
  size_t max_instances_per_type = 1024;       // browser results kept per browse type
  size_t max_rate_sources = 256;              // sources tracked by the flood limiter
  double rate_per_second = 50;                // packets per second per source...
  double rate_burst = 100;                    // ...with this burst
  Duration max_query_interval{60 * 60 * 1000};  // browser backoff cap (RFC 6762 5.2)
  int conflicts_before_slowdown = 15;         // RFC 6762 8.1: 15 conflicts in 10 s ...
  Duration conflict_slowdown{5000};           // ... then wait 5 s before probing
  int announcements = 2;                      // RFC 6762 8.3: at least 2, 1 s apart
  int max_rename_attempts = 100;              // give up renaming after this many
};

struct Options {
  std::string hostname = "portico";  // answers for <hostname>.local
  std::vector<InterfaceConfig> interfaces;
  std::vector<ServiceConfig> services;
  std::vector<std::string> browse;   // service types, e.g. "_http._tcp"
  SigningOptions signing;
  bool ipv4 = true;
  bool ipv6 = true;
  Limits limits;
};

// Returns an empty string when `o` is usable, else a description of the first problem
// (bad hostname, service type not "_x._tcp"/"_x._udp", label too long, duplicate interface).
std::string validate(const Options& o);

}  // namespace portico::mdns
