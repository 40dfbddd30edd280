#pragma once
// Internal to conf/: the per-section loaders called by loader.cpp, and the
// side table of source positions they leave for cross-section checks
// (duplicates, cluster references). One LoadContext per load, one thread.

#include <string>
#include <vector>

#include "conf/config.hpp"
#include "conf/reader.hpp"

namespace portico::conf {

// Positions of a listener's keys, parallel to Config::listeners.
struct ListenerMarks {
  Mark name;
  Mark bind;
  bool bind_ok = false;
  Mark cluster;         // the `cluster:` value, when set
  std::string path;     // "listeners[i]"
};

// Positions of a cluster's keys, parallel to Config::clusters.
struct ClusterMarks {
  Mark name;
  std::string path;
};

// A route's `cluster:` reference, checked once all clusters are known.
struct ClusterRef {
  std::string name;
  Mark mark;
  std::string path;
};

struct LoadContext {
  Reader& r;
  std::vector<ListenerMarks> listeners;
  std::vector<ClusterMarks> clusters;
  std::vector<ClusterRef> route_refs;
};

// Reads one listener (and its routes) into out; appends to ctx.listeners.
void load_listener(LoadContext& ctx, const YAML::Node& n, const std::string& path, Listener& out);
// Reads one cluster into out; appends to ctx.clusters.
void load_cluster(LoadContext& ctx, const YAML::Node& n, const std::string& path, Cluster& out);
void load_dns(Reader& r, const YAML::Node& n, const std::string& path, Dns& out);
void load_mdns(Reader& r, const YAML::Node& n, const std::string& path, Mdns& out);

// HTTP token (method, header name) per RFC 9110 tchar.
bool is_token(std::string_view s);

// Durations and sizes used as bounds.
constexpr Duration kMs = std::chrono::milliseconds(1);
constexpr Duration kSec = std::chrono::seconds(1);
constexpr Duration kMin = std::chrono::minutes(1);
constexpr Duration kHour = std::chrono::hours(1);
constexpr Duration kDay = std::chrono::hours(24);
constexpr Size kKiB = 1024;
constexpr Size kMiB = 1024 * 1024;
constexpr Size kGiB = 1024ull * 1024 * 1024;

}  // namespace portico::conf
