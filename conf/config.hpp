#pragma once
// The config schema: plain structs, filled and validated by load_config()
// (loader.cpp). Immutable once loaded; shared read-only by all workers through
// a std::shared_ptr<const Config> snapshot that a reload swaps whole.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conf/types.hpp"

namespace portico::conf {

enum class EventLoop { kAuto, kIoUring, kEpoll };
enum class LogLevel { kError, kWarn, kInfo, kDebug };
enum class Protocol { kTcp, kUdp, kHttp };
enum class AccessFormat { kJson, kCombined };
enum class LbPolicy {
  kRoundRobin, kWeightedRoundRobin, kLeastConnections, kLeastRequest, kRandom, kRingHash, kMaglev
};
enum class ProxyProtocol { kOff, kV1, kV2 };
enum class ClientAuth { kNone, kOptional, kRequired };

struct AccessLog {
  std::string path = "stderr";  // "stderr" | "off" | file path
  AccessFormat format = AccessFormat::kJson;
};

struct Log {
  LogLevel level = LogLevel::kInfo;
  AccessLog access;
};

struct Admin {
  std::optional<Address> bind;  // default 127.0.0.1:9901; null disables
  std::optional<std::string> token;
};

struct TlsCertificate {
  std::string cert;
  std::string key;
  std::optional<std::string> ocsp;  // DER OCSP response file to staple
};

struct ListenerTls {
  std::vector<TlsCertificate> certificates;
  std::string min_version = "1.2";  // "1.2" | "1.3"
  std::vector<std::string> alpn = {"http/1.1"};
  bool session_tickets = true;
  Duration ticket_rotation = std::chrono::hours(12);
  std::optional<std::string> client_ca;
  ClientAuth client_auth = ClientAuth::kNone;
  std::string client_subject_header = "X-Client-Subject";
};

struct ListenerTimeouts {
  Duration header = std::chrono::seconds(10);     // HTTP request head read
  Duration idle = std::chrono::seconds(60);       // no bytes either way (tcp/http keep-alive)
  Duration handshake = std::chrono::seconds(10);  // TLS handshake
  Duration connect = std::chrono::seconds(5);     // tcp listeners: upstream connect (cluster's wins if set)
  Duration linger = std::chrono::seconds(5);      // http: reading (and discarding) after an error response before close
};

struct ListenerLimits {
  uint32_t max_connections = 10000;
  Size request_line = 8 * 1024;
  Size header_bytes = 32 * 1024;
  uint32_t headers = 100;
  Size body = 64ull * 1024 * 1024;
  uint32_t udp_sessions = 10000;   // udp listeners: concurrent client sessions
  Size buffer = 64 * 1024;         // tcp listeners: bytes queued per direction before reading stops
};

struct HeaderMatch {
  std::string name;
  std::string value;  // exact, case-sensitive value match
};

struct RouteMatch {
  std::optional<std::string> host;         // exact or "*.suffix", case-insensitive, port ignored
  std::optional<std::string> path;         // exact
  std::optional<std::string> path_prefix;
  std::optional<std::string> path_regex;   // ECMAScript, whole-path match
  std::vector<std::string> methods;        // empty = any
  std::vector<HeaderMatch> headers;
};

struct HeaderTransform {
  std::vector<std::pair<std::string, std::string>> add;  // in config order
  std::vector<std::string> remove;
};

struct Retries {
  uint32_t attempts = 0;                   // extra tries after the first
  std::vector<std::string> on;             // connect_failure | reset | timeout | "5xx" | "503"...
  std::optional<Duration> per_try_timeout;
};

struct StaticAction {
  std::string root;
  std::string index = "index.html";
};

struct RedirectAction {
  int status = 301;
  std::string location;  // template with {host}, {path}
};

struct RespondAction {
  int status = 200;
  std::string body;
};

struct Route {
  Mark mark;
  std::optional<std::string> name;  // metrics label; default: the route's index ("0", "1", ...)
  RouteMatch match;
  // Exactly one action is set.
  std::optional<std::string> cluster;
  std::optional<StaticAction> static_files;
  std::optional<RedirectAction> redirect;
  std::optional<RespondAction> respond;
  std::optional<std::string> rewrite_path_prefix;
  std::optional<std::string> rewrite_host;
  HeaderTransform request_headers;
  HeaderTransform response_headers;
  std::optional<Duration> timeout;
  Retries retries;
};

struct Listener {
  Mark mark;
  std::string name;
  Address bind;
  Protocol protocol = Protocol::kTcp;
  std::optional<ListenerTls> tls;
  std::vector<Cidr> proxy_protocol_from;
  // TCP_DEFER_ACCEPT: the kernel hands a connection over only once its first
  // bytes arrived (one wake-up per new connection instead of two). Unset =
  // on for http and TLS listeners (the client speaks first), off for plain tcp.
  std::optional<bool> defer_accept;
  // Plain tcp listeners: a direction that moves a bulk stream switches from
  // recv/send to splice(2) through a pipe (no copy through user space).
  // Unset = on for plain tcp; never with tls (portico must see the bytes).
  std::optional<bool> splice;
  ListenerTimeouts timeouts;
  ListenerLimits limits;
  std::vector<Route> routes;           // http
  std::optional<std::string> cluster;  // tcp / udp

  bool defers_accept() const {
    if (protocol == Protocol::kUdp || bind.family() == AF_UNIX) return false;
    return defer_accept.value_or(protocol == Protocol::kHttp || tls.has_value());
  }
  bool splices() const { return protocol == Protocol::kTcp && !tls && splice.value_or(true); }
};

struct Endpoint {
  Address address;
  uint32_t weight = 1;
  uint32_t priority = 0;  // 0 is the highest priority
};

struct Discovery {
  enum class Kind { kNone, kDns, kDnsSrv, kMdns } kind = Kind::kNone;
  std::string name;  // "host:port" for dns, SRV name for dns_srv, service type for mdns
  uint32_t max_endpoints = 1024;  // addresses kept per answer / mDNS update
  // dns and dns_srv only:
  std::optional<Address> nameserver;  // default: the dns module, else resolv.conf
  Duration timeout = std::chrono::seconds(2);          // one resolution round (UDP and TCP)
  Duration min_refresh = std::chrono::seconds(1);      // floor of the TTL-driven refresh
  Duration max_refresh = std::chrono::minutes(5);      // ceiling of it
  Duration empty_refresh = std::chrono::seconds(5);    // no record (or no TTL) in the answer
  Duration retry_backoff = std::chrono::seconds(1);    // after a failed round, doubling...
  Duration max_retry_backoff = std::chrono::seconds(30);  // ...up to this
  uint32_t max_targets = 64;                           // dns_srv: SRV targets resolved
};

struct HashKey {
  enum class Kind { kClientIp, kHeader, kCookie } kind = Kind::kClientIp;
  std::string name;
};

struct Pool {
  uint32_t max_idle = 64;
  Duration idle_timeout = std::chrono::seconds(60);
};

struct HealthCheck {
  // Random delay added to each interval: a percent of the interval or a fixed duration.
  struct Jitter {
    bool is_percent = true;
    uint32_t percent = 10;
    Duration duration = Duration::zero();
  };
  enum class Type { kTcp, kHttp } type = Type::kTcp;
  std::string method = "GET";
  std::string path = "/";
  std::optional<std::string> host;
  std::vector<int> expect = {200};
  Duration interval = std::chrono::seconds(5);
  Duration timeout = std::chrono::seconds(1);
  uint32_t rise = 2;
  uint32_t fall = 3;
  Jitter jitter;
  uint32_t max_in_flight = 256;  // concurrent checks of the cluster
};

struct Outlier {
  uint32_t consecutive_failures = 5;
  Duration base_ejection = std::chrono::seconds(30);
  uint32_t max_ejection_percent = 50;
  std::optional<Duration> max_ejection;  // cap of one ejection; default max(300s, base_ejection)
};

struct RetryBudget {
  uint32_t percent = 20;         // of the cluster's active requests may be retries...
  uint32_t min_concurrent = 3;   // ...but at least this many at once
};

struct RingHashOptions {
  uint32_t points_per_weight = 160;
  uint32_t max_points = 1u << 21;  // 16 bytes each
};

struct LeastRequestOptions {
  uint32_t ewma_alpha_percent = 30;
  Duration ewma_stale = std::chrono::seconds(10);
  Duration failure_latency = std::chrono::milliseconds(100);
};

struct UpstreamTls {
  std::optional<std::string> ca;
  std::optional<std::string> sni;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  bool verify = true;
};

struct Cluster {
  Mark mark;
  std::string name;
  std::vector<Endpoint> endpoints;
  Discovery discovery;
  LbPolicy lb = LbPolicy::kRoundRobin;
  HashKey hash_key;
  Duration connect_timeout = std::chrono::seconds(5);
  Duration response_timeout = std::chrono::seconds(60);
  Pool pool;
  std::optional<HealthCheck> health_check;
  std::optional<Outlier> outlier;
  std::optional<UpstreamTls> tls;
  ProxyProtocol proxy_protocol = ProxyProtocol::kOff;
  uint32_t max_connections = 0;       // per endpoint, 0 = unlimited
  uint32_t max_pending = 0;
  bool panic = false;
  Duration slow_start = Duration::zero();  // recovered endpoints ramp up over this; 0 = off
  uint32_t slow_start_min_percent = 10;    // weight at the start of the ramp
  RetryBudget retry_budget;
  RingHashOptions ring_hash;
  uint32_t maglev_table_size = 65537;      // raised to a prime >= 10 x endpoints
  LeastRequestOptions least_request;
};

struct DnsCache {
  uint64_t max_entries = 100000;
  Duration min_ttl = Duration::zero();
  Duration max_ttl = std::chrono::hours(24);
  Duration negative_ttl = std::chrono::hours(1);
  Duration serve_stale = std::chrono::hours(24);  // zero disables
  bool prefetch = true;
};

struct DnsZone {
  std::string name;
  std::string file;
};

struct Dns {
  Mark mark;
  std::vector<Address> listen = {};  // required, at least one; IP addresses only
  std::vector<Address> upstreams;  // empty = /etc/resolv.conf nameservers
  DnsCache cache;
  std::vector<DnsZone> zones;
  std::vector<std::string> records;  // RFC 1035 presentation-format RRs
  std::vector<Cidr> allow = {};      // never empty after load: absent = 127.0.0.0/8, ::1/128
  Duration upstream_timeout = std::chrono::milliseconds(1500);
  Duration tcp_idle = std::chrono::seconds(10);
  uint32_t udp_batch = 32;  // datagrams per recvmmsg/sendmmsg on the client UDP sockets
};

struct MdnsService {
  std::string name;
  std::string type;                  // "_http._tcp"
  std::vector<std::string> subtypes;
  uint16_t port = 0;
  std::vector<std::pair<std::string, std::string>> txt;
  uint16_t priority = 0;
  uint16_t weight = 0;
};

struct MdnsSigning {
  std::optional<std::string> key;           // Ed25519 private key file (PEM)
  std::vector<std::string> trusted_keys;    // public key files (PEM)
};

struct Mdns {
  Mark mark;
  std::vector<std::string> interfaces;
  std::string hostname = "portico";
  std::vector<MdnsService> services;
  bool advertise_listeners = false;
  std::vector<std::string> browse;
  std::optional<MdnsSigning> signing;
  bool ipv4 = true;
  bool ipv6 = true;
};

struct Config {
  std::string file;                 // path it was loaded from
  uint32_t workers = 0;             // 0 = one per online core ("auto")
  EventLoop event_loop = EventLoop::kAuto;
  std::optional<std::string> user;
  Mark user_mark;                   // where `user` was set, for error messages
  Duration drain_timeout = std::chrono::seconds(30);
  Log log;
  Admin admin;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  std::optional<Dns> dns;
  std::optional<Mdns> mdns;
  // Runtime sizing, each bounded (see docs/config.md "runtime").
  struct Runtime {
    Size buffer_size = 64 * 1024;     // one pool buffer
    uint32_t buffers = 256;           // pool buffers per worker (16 MiB at 64 KiB)
    uint32_t ring_entries = 4096;     // io_uring submission queue entries
    // io_uring: once a completion is ready, wait up to this long for
    // batch_wait_events of them before handling (IORING_FEAT_MIN_TIMEOUT,
    // Linux 6.12+). 0 = off: handle each wake-up at once.
    Duration batch_wait = Duration::zero();
    uint32_t batch_wait_events = 16;
  } runtime;

  const Cluster* find_cluster(std::string_view name) const {
    for (const auto& c : clusters)
      if (c.name == name) return &c;
    return nullptr;
  }
};

}  // namespace portico::conf
