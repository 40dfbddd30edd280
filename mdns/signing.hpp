#pragma once
// Ed25519 signatures over DNS-SD service descriptions (a "sig=" TXT entry), with BoringSSL.
// Free functions; the canonical byte string is documented in mdns/README.md.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mdns/name.hpp"
#include "mdns/types.hpp"

namespace portico::mdns {

using PrivateKey = std::array<uint8_t, 64>;  // BoringSSL form: seed || public key
using PublicKey = std::array<uint8_t, 32>;

inline constexpr std::string_view kSigKey = "sig";

struct SignedFields {
  Name instance;  // full instance name, e.g. "Portico web._http._tcp.local"
  Name target;    // SRV target
  uint16_t port = 0, priority = 0, weight = 0;
  std::vector<TxtEntry> txt;         // entries other than "sig"
  std::vector<IpAddress> addresses;  // any order
};

std::vector<uint8_t> canonical_bytes(const SignedFields& f);
// Returns the base64 signature for a "sig=" entry.
std::string sign(const SignedFields& f, const PrivateKey& key);
bool verify(const SignedFields& f, std::string_view sig_base64, const PublicKey& key);

PrivateKey key_from_seed(const std::array<uint8_t, 32>& seed);
PublicKey public_key_of(const PrivateKey& key);
// PEM ("-----BEGIN PRIVATE KEY-----" PKCS#8 / "-----BEGIN PUBLIC KEY-----" SPKI), Ed25519 only.
std::optional<PrivateKey> private_key_from_pem(std::string_view pem);
std::optional<PublicKey> public_key_from_pem(std::string_view pem);
// Raw 32-byte public key as base64 (the form trusted_keys may use in the config).
std::optional<PublicKey> public_key_from_base64(std::string_view b64);

}  // namespace portico::mdns
