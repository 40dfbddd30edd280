#pragma once
// Reads a YAML config file, substitutes ${VAR} / ${VAR:-default} from the
// environment, fills a Config and validates it. Every error carries
// file:line:col and the key path; all errors found are returned, not only the
// first. Called from the main thread only (start-up, `-t`, reload).

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"

namespace portico::conf {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when the error has no position (unreadable file)
  int column = 0;  // 1-based
  std::string message;
  // "file:line:col: message" (or "file: message" without a position)
  std::string str() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<ConfigError> errors;
  bool ok() const { return config != nullptr; }
};

// Looks up an environment variable; returns false when unset.
using EnvLookup = std::function<bool(std::string_view name, std::string& value)>;
EnvLookup process_env();

LoadResult load_config_file(const std::string& path, const EnvLookup& env = process_env());
LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env = process_env());

// Knobs for tests and tools; the defaults are what the binary uses.
struct LoadOptions {
  // Run check_supported() (refuse features this build does not implement).
  // Tests of the schema itself turn it off to load every key.
  bool check_supported = true;
};
LoadResult load_config_file(const std::string& path, const EnvLookup& env,
                            const LoadOptions& opts);
LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env, const LoadOptions& opts);

// Appends "<feature> is not supported by this build yet" for each configured
// feature this build does not implement, located at the owning listener,
// cluster or section. Called at the end of loading; one list in loader.cpp.
void check_supported(const Config& config, std::vector<ConfigError>& errors);

// "round_robin", "least_request", ...: the config spelling of a policy.
std::string lb_name(LbPolicy policy);

}  // namespace portico::conf
