#pragma once
// Router: the compiled route table of one HTTP listener. Built once per
// config snapshot from std::vector<conf::Route> (regexes compiled then),
// immutable afterwards and safe to share read-only between workers.
// match() returns the index of the first matching route, or nullopt (404).

#include <cstddef>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "proxy/http/message.hpp"

namespace portico::http {

// The request facts a route can match on (views; nothing is copied).
struct RouteInput {
  std::string_view host;    // Host header / authority, port allowed ("a.test:8080", "[::1]:80")
  std::string_view path;    // path without the query
  std::string_view method;  // case-sensitive
  std::span<const HeaderField> headers;
};

class Router {
 public:
  // Compiles `routes` (ECMAScript regexes, backreferences refused so matching
  // stays linear). On error returns nullopt and says why in *error.
  static std::optional<Router> compile(const std::vector<conf::Route>& routes, std::string* error);

  std::optional<size_t> match(const RouteInput& in) const;
  size_t size() const { return routes_.size(); }

 private:
  struct Compiled {
    enum class HostKind : uint8_t { kAny, kExact, kSuffix } host_kind = HostKind::kAny;
    std::string host;  // lowercased; for kSuffix ".example.com"
    std::optional<std::string> path;
    std::optional<std::string> path_prefix;
    std::optional<std::regex> path_regex;
    std::vector<std::string> methods;
    std::vector<conf::HeaderMatch> headers;
  };
  bool matches(const Compiled& r, std::string_view host, const RouteInput& in) const;

  std::vector<Compiled> routes_;
};

// "Example.COM:8080" -> "Example.COM", "[::1]:8080" -> "::1", "a.test." -> "a.test".
// Case is kept (callers compare case-insensitively).
std::string_view strip_host_port(std::string_view host);

// Replaces `prefix` at the start of `path` by `replacement` and re-appends
// "?query" when non-empty, into `out`. A join "x/" + "/y" keeps one slash and
// the result always starts with '/'. nullopt when path lacks the prefix or
// out is too small.
std::optional<std::string_view> rewrite_path_prefix(std::string_view path, std::string_view query,
                                                    std::string_view prefix,
                                                    std::string_view replacement,
                                                    std::span<char> out);

}  // namespace portico::http
