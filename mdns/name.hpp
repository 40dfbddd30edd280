#pragma once
// Domain names as uncompressed DNS wire bytes (length-prefixed labels, final 0), the form
// ldns keeps in a dname rdf. Labels may hold any byte (instance names contain spaces, dots).
// Comparison is ASCII case-insensitive. Free functions, no state.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portico::mdns {

using Name = std::string;  // wire form; "" is invalid, "\0" is the root

inline constexpr size_t kMaxLabel = 63;
inline constexpr size_t kMaxName = 255;

// Builds a name from labels; returns "" if a label is empty or too long or the name too long.
Name name_from_labels(const std::vector<std::string_view>& labels);
// Splits dotted text on '.' (no escapes: for service types and host names) and appends
// `suffix` labels; "" on error.
Name name_from_dotted(std::string_view dotted);
// Prepends one label to a name ("" on error).
Name name_prepend(std::string_view label, const Name& name);
// True if `wire` is a well-formed uncompressed name of exactly `len` bytes.
bool name_valid(const uint8_t* wire, size_t len);
// Labels of a valid name (the root label excluded).
std::vector<std::string> name_labels(const Name& n);
// First label ("" for the root) and the name without it.
std::string name_first_label(const Name& n);
Name name_parent(const Name& n);
// Dotted text without the final dot, '.' and '\\' inside labels escaped with '\\'.
std::string name_to_text(const Name& n);
// Lower-cased copy (ASCII), for map keys and comparisons.
Name name_lower(const Name& n);
bool name_equal(const Name& a, const Name& b);

}  // namespace portico::mdns
