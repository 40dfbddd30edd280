#include "mdns/types.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace portico::mdns {

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress r;
  r.family = 4;
  r.bytes[0] = a;
  r.bytes[1] = b;
  r.bytes[2] = c;
  r.bytes[3] = d;
  return r;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& b) {
  IpAddress r;
  r.family = 6;
  r.bytes = b;
  return r;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  char buf[64];
  if (text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress r;
  if (inet_pton(AF_INET, buf, r.bytes.data()) == 1) {
    r.family = 4;
    return r;
  }
  if (inet_pton(AF_INET6, buf, r.bytes.data()) == 1) {
    r.family = 6;
    return r;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family == 4) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  else if (family == 6) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

Endpoint Destination::endpoint() const {
  switch (kind) {
    case Kind::kMulticastV4:
      return {IpAddress::v4(224, 0, 0, 251), kMdnsPort};
    case Kind::kMulticastV6:
      return {IpAddress::v6({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb}), kMdnsPort};
    case Kind::kUnicast:
      break;
  }
  return unicast;
}

}  // namespace portico::mdns
