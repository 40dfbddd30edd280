#pragma once
// Hash helpers for consistent-hash load balancing. The caller computes the
// 64-bit key of a request (PickContext::hash) from the cluster's hash_key:
// client_ip -> hash_client_ip(), header -> hash_string(value), cookie ->
// hash_string(find_cookie(cookie_header, name)). Pure functions, any thread.
// Not cryptographic: keys are spread evenly, not protected against collisions.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portico::upstream {

// MurmurHash64A (public domain algorithm by Austin Appleby).
uint64_t hash_bytes(const void* data, size_t len, uint64_t seed = 0);

inline uint64_t hash_string(std::string_view s, uint64_t seed = 0) {
  return hash_bytes(s.data(), s.size(), seed);
}

// Final avalanche of a 64-bit value (splitmix64 finalizer): spreads sequential
// or low-entropy integers over the whole 64-bit range.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Key of a client address: the IP only (the port changes per connection), a
// v4-mapped IPv6 address hashes like its IPv4 form. Unix or unknown families
// hash to 0 (all such clients share one endpoint).
uint64_t hash_client_ip(const sockaddr* sa);

// The value of cookie `name` in a Cookie header value ("a=1; sid=xyz"), or
// nullopt. Names compare case-sensitively (RFC 6265); surrounding quotes stay.
std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name);

}  // namespace portico::upstream
