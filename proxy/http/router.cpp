// GCC 12's <regex> (std::function inside the NFA) raises a false
// -Wmaybe-uninitialized under -fsanitize=address; this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "proxy/http/router.hpp"

#include <cstring>

namespace portico::http {

std::string_view strip_host_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return host;  // malformed: compared as is
    return host.substr(1, close - 1);
  }
  size_t colon = host.find(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

std::optional<Router> Router::compile(const std::vector<conf::Route>& routes, std::string* error) {
  Router router;
  router.routes_.reserve(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) {
    const conf::RouteMatch& m = routes[i].match;
    Compiled c;
    if (m.host) {
      std::string_view h = *m.host;
      if (h.size() > 2 && h.substr(0, 2) == "*.") {
        c.host_kind = Compiled::HostKind::kSuffix;
        c.host = lowercase(h.substr(1));  // ".example.com"
      } else {
        c.host_kind = Compiled::HostKind::kExact;
        c.host = lowercase(strip_host_port(h));
      }
    }
    c.path = m.path;
    c.path_prefix = m.path_prefix;
    if (m.path_regex) {
      try {
        // __polynomial selects libstdc++'s Thompson-NFA executor: linear in the
        // path length, no deep recursion (refuses backreferences).
        c.path_regex.emplace(*m.path_regex, std::regex::ECMAScript | std::regex::optimize |
                                                std::regex_constants::__polynomial);
      } catch (const std::regex_error& e) {
        if (error) *error = "route " + std::to_string(i) + ": bad path_regex: " + e.what();
        return std::nullopt;
      }
    }
    c.methods = m.methods;
    c.headers = m.headers;
    router.routes_.push_back(std::move(c));
  }
  return router;
}

bool Router::matches(const Compiled& r, std::string_view host, const RouteInput& in) const {
  switch (r.host_kind) {
    case Compiled::HostKind::kAny:
      break;
    case Compiled::HostKind::kExact:
      if (!iequals(host, r.host)) return false;
      break;
    case Compiled::HostKind::kSuffix:
      if (host.size() <= r.host.size() || !iends_with(host, r.host)) return false;
      break;
  }
  if (r.path && in.path != *r.path) return false;
  if (r.path_prefix && in.path.substr(0, r.path_prefix->size()) != *r.path_prefix) return false;
  if (!r.methods.empty()) {
    bool any = false;
    for (const auto& m : r.methods) any = any || m == in.method;
    if (!any) return false;
  }
  for (const auto& want : r.headers) {
    bool any = false;
    for (const auto& f : in.headers)
      if (iequals(f.name, want.name) && f.value == want.value) {
        any = true;
        break;
      }
    if (!any) return false;
  }
  if (r.path_regex) {  // last: the most expensive test
    try {
      if (!std::regex_match(in.path.begin(), in.path.end(), *r.path_regex)) return false;
    } catch (...) {  // std::regex may throw (complexity, bad_alloc): no match
      return false;
    }
  }
  return true;
}

std::optional<size_t> Router::match(const RouteInput& in) const {
  std::string_view host = strip_host_port(in.host);
  for (size_t i = 0; i < routes_.size(); ++i)
    if (matches(routes_[i], host, in)) return i;
  return std::nullopt;
}

std::optional<std::string_view> rewrite_path_prefix(std::string_view path, std::string_view query,
                                                    std::string_view prefix,
                                                    std::string_view replacement,
                                                    std::span<char> out) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  if (!replacement.empty() && replacement.back() == '/' && !rest.empty() && rest.front() == '/')
    rest.remove_prefix(1);
  // The result must stay an origin-form path: it starts with '/'.
  std::string_view first = !replacement.empty() ? replacement : rest;
  bool lead = first.empty() || first.front() != '/';
  size_t need = (lead ? 1 : 0) + replacement.size() + rest.size() +
                (query.empty() ? 0 : 1 + query.size());
  if (need > out.size()) return std::nullopt;
  size_t pos = 0;
  auto put = [&](std::string_view s) {
    if (!s.empty()) std::memcpy(out.data() + pos, s.data(), s.size());
    pos += s.size();
  };
  if (lead) put("/");
  put(replacement);
  put(rest);
  if (!query.empty()) {
    put("?");
    put(query);
  }
  return std::string_view(out.data(), pos);
}

}  // namespace portico::http
