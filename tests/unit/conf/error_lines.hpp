#pragma once
// Shared by the conf unit tests: lists of "file:line:col: message" errors,
// shown whole when a comparison fails.
#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string s = "{";
    for (const auto& e : v) s += "\n  \"" + e + "\"";
    return String((s + "}").c_str());
  }
};
}  // namespace doctest
