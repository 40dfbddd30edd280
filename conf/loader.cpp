#include "conf/loader.hpp"
// Placeholder: replaced by the conf work.
namespace portico::conf {
std::string ConfigError::str() const { return file + ": " + message; }
EnvLookup process_env() { return [](std::string_view, std::string&) { return false; }; }
LoadResult load_config_file(const std::string& path, const EnvLookup&) {
  return {nullptr, {{path, 0, 0, "not implemented"}}};
}
LoadResult load_config_string(std::string_view, const std::string& f, const EnvLookup&) {
  return {nullptr, {{f, 0, 0, "not implemented"}}};
}
}  // namespace portico::conf
