#pragma once
// Internal to conf/: typed, located access to a parsed YAML tree. A Reader
// collects every error (file:line:col, key path, reason) instead of stopping
// at the first; Fields is one checked mapping. Used by the loader only, on the
// thread that loads the config; nothing here outlives one load.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/loader.hpp"
#include "conf/types.hpp"

namespace portico::conf {

// 1-based position of a node; {0,0} when the node has none.
Mark mark_of(const YAML::Node& n);

// Replaces ${VAR} and ${VAR:-default} from env and "$$" with "$". Returns
// nullopt and sets err on an unset variable without default, a bad name or
// an unterminated "${".
std::optional<std::string> substitute_env(std::string_view in, const EnvLookup& env,
                                          std::string& err);

// s cut to at most 80 bytes ("..." marks a cut), for quoting input in messages.
std::string clip(std::string_view s);

// "a mapping", "a list", "null", "'text'": how a node is named in messages.
std::string describe(const YAML::Node& n);

class Reader {
 public:
  Reader(std::string file, const EnvLookup& env) : file_(std::move(file)), env_(env) {}

  const std::string& file() const { return file_; }
  std::vector<ConfigError>& errors() { return errors_; }

  // "path: msg" at mark m (path may be empty).
  void error(Mark m, const std::string& path, const std::string& msg);
  void error(const YAML::Node& at, const std::string& path, const std::string& msg) {
    error(mark_of(at), path, msg);
  }

  // Node readers: each reports its own error and returns nullopt on failure.
  std::optional<std::string> scalar(const YAML::Node& n, const std::string& path,
                                    const char* what = "a string");
  std::optional<std::string> string(const YAML::Node& n, const std::string& path);  // non-empty
  std::optional<bool> boolean(const YAML::Node& n, const std::string& path);
  std::optional<uint64_t> integer(const YAML::Node& n, const std::string& path, uint64_t lo,
                                  uint64_t hi);
  std::optional<Duration> duration(const YAML::Node& n, const std::string& path, Duration lo,
                                   Duration hi);
  std::optional<Size> size(const YAML::Node& n, const std::string& path, Size lo, Size hi);
  std::optional<Address> address(const YAML::Node& n, const std::string& path);
  std::optional<Address> ip_port(const YAML::Node& n, const std::string& path, uint16_t dflt);
  std::optional<Cidr> cidr(const YAML::Node& n, const std::string& path);
  // One of names[i] -> values[i]; the message lists the allowed names.
  template <class E>
  std::optional<E> choice(const YAML::Node& n, const std::string& path,
                          std::initializer_list<std::pair<const char*, E>> options) {
    auto s = scalar(n, path, "a name");
    if (!s) return std::nullopt;
    for (const auto& [name, value] : options)
      if (*s == name) return value;
    std::string allowed;
    for (const auto& [name, value] : options) {
      (void)value;
      allowed += allowed.empty() ? "" : ", ";
      allowed += name;
    }
    error(n, path, "expected one of " + allowed + ", got '" + clip(*s) + "'");
    return std::nullopt;
  }
  // A list of nodes (a lone scalar counts as a list of one when allow_scalar).
  std::optional<std::vector<YAML::Node>> list(const YAML::Node& n, const std::string& path,
                                              bool allow_scalar = false);
  std::optional<std::vector<std::string>> string_list(const YAML::Node& n,
                                                      const std::string& path,
                                                      bool allow_scalar = false);
  // Mapping entries as (key, value) in file order; duplicate keys reported.
  std::optional<std::vector<std::pair<std::string, YAML::Node>>> string_map(
      const YAML::Node& n, const std::string& path);

 private:
  std::string file_;
  const EnvLookup& env_;
  std::vector<ConfigError> errors_;
};

// A mapping node checked against its allowed keys ("unknown key 'x' in
// <kind>", "duplicate key 'x'"). ok() is false when the node is not a mapping.
class Fields {
 public:
  Fields(Reader& r, const YAML::Node& n, std::string path, const char* kind,
         std::initializer_list<const char*> keys);

  bool ok() const { return ok_; }
  const YAML::Node& node() const { return node_; }
  Mark mark() const { return mark_of(node_); }
  const std::string& path() const { return path_; }
  // The value node of key, or nullptr when absent.
  const YAML::Node* get(std::string_view key) const;
  // The key node itself (for locating errors about the key), or nullptr.
  const YAML::Node* key_node(std::string_view key) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }
  // Present and not null.
  bool set(std::string_view key) const {
    const YAML::Node* v = get(key);
    return v != nullptr && !v->IsNull();
  }
  std::string sub(std::string_view key) const;
  // Reports "missing required key 'k' in <kind>" at the mapping; false if absent.
  bool require(std::string_view key);

  // Each reads key when present into out (unchanged when absent or bad);
  // returns true only when present and valid.
  bool str(std::string_view key, std::string& out);
  // A name (listener, cluster, route): a string without control characters.
  bool name(std::string_view key, std::string& out);
  bool opt_str(std::string_view key, std::optional<std::string>& out);  // null -> nullopt
  bool boolean(std::string_view key, bool& out);
  template <class T>
  bool integer(std::string_view key, T& out, uint64_t lo, uint64_t hi) {
    const YAML::Node* v = get(key);
    if (!v) return false;
    auto x = r_.integer(*v, sub(key), lo, hi);
    if (x) out = T(*x);
    return x.has_value();
  }
  bool duration(std::string_view key, Duration& out, Duration lo, Duration hi);
  bool opt_duration(std::string_view key, std::optional<Duration>& out, Duration lo, Duration hi);
  bool size(std::string_view key, Size& out, Size lo, Size hi);
  bool address(std::string_view key, Address& out);
  bool string_list(std::string_view key, std::vector<std::string>& out, bool allow_scalar = false);
  template <class E>
  bool choice(std::string_view key, E& out, std::initializer_list<std::pair<const char*, E>> o) {
    const YAML::Node* v = get(key);
    if (!v) return false;
    auto x = r_.choice<E>(*v, sub(key), o);
    if (x) out = *x;
    return x.has_value();
  }

 private:
  Reader& r_;
  YAML::Node node_;
  std::string path_;
  std::string kind_;
  bool ok_ = false;
  std::vector<std::pair<YAML::Node, YAML::Node>> entries_;
  std::vector<std::string> names_;
};

// Bounds in messages: "4KiB", "1MiB", "250ms", "1d".
std::string size_str(Size s);
std::string duration_str(Duration d);

}  // namespace portico::conf
