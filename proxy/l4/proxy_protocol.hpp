#pragma once
// PROXY protocol v1 (text) and v2 (binary) headers, sans-I/O: parse what a
// trusted load balancer puts before a connection's first byte, and build the
// header a cluster sends to its endpoints. Pure functions; any thread.
// Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace portico::l4 {

inline constexpr size_t kProxyV1Max = 107;    // the whole v1 line, CRLF included
inline constexpr size_t kProxyHeaderMax = 1024;  // v2: 16 + address block + TLVs; longer is refused

struct ProxyHeader {
  bool local = true;  // v1 UNKNOWN / v2 LOCAL or unknown family: keep the real peer address
  sockaddr_storage src{};
  sockaddr_storage dst{};
};

struct ProxyParse {
  enum class State { kNeedMore, kDone, kInvalid } state = State::kNeedMore;
  size_t want = 0;  // kNeedMore: bytes that certainly still belong to the header (>= 1)
  size_t length = 0;  // kDone: the header's length (== the bytes given)
  const char* error = "";
};

// `buf` holds the first `have` bytes of the connection, never more than the
// header (read exactly `want` more each time; a v1 line may be read past its
// first 15 bytes with a peek for the CRLF). Starts with want 16 at have 0.
ProxyParse parse_proxy_header(const uint8_t* buf, size_t have, ProxyHeader& out);

// Writes a v1 line / v2 header for a connection from `src` to `dst` into
// `out`; returns its length, or 0 if it does not fit. Families that differ
// or are not IP give "PROXY UNKNOWN" / a v2 LOCAL header.
size_t build_proxy_v1(const sockaddr* src, const sockaddr* dst, char* out, size_t cap);
size_t build_proxy_v2(const sockaddr* src, const sockaddr* dst, uint8_t* out, size_t cap);

}  // namespace portico::l4
