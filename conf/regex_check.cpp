// Compiles a route's path_regex once at load time to report a bad pattern.
// Its own file: <regex> is slow to compile, and GCC 12 warns about its own
// internals (-Wmaybe-uninitialized false positives) under the sanitizer build.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>

#include "conf/sections.hpp"

namespace portico::conf {

bool regex_ok(const std::string& pattern, std::string* why) {
  // std::regex reports a bad pattern by exception: config loading is the one
  // place we accept that, it is caught right here and never reaches the data path.
  try {
    std::regex compiled(pattern, std::regex::ECMAScript);
    (void)compiled;
    return true;
  } catch (const std::regex_error& e) {
    if (why) *why = e.what();
    return false;
  }
}

}  // namespace portico::conf
