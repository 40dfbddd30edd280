#include "mdns/signing.hpp"

// BoringSSL's stack.h trips -Wignored-qualifiers; it is not our code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/curve25519.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstring>

#include "mdns/record.hpp"

namespace portico::mdns {

namespace {

constexpr std::string_view kMagic = "portico-mdns-sig-v1";

void field(std::vector<uint8_t>& out, const void* data, size_t n) {
  out.push_back(uint8_t(n >> 8));
  out.push_back(uint8_t(n));
  auto p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}

EVP_PKEY* read_pem(std::string_view pem, bool priv) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  if (!bio) return nullptr;
  EVP_PKEY* k = priv ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                     : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k && EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(k);
    return nullptr;
  }
  return k;
}

}  // namespace

std::vector<uint8_t> canonical_bytes(const SignedFields& f) {
  std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
  out.reserve(512);
  Name inst = name_lower(f.instance), target = name_lower(f.target);
  field(out, inst.data(), inst.size());
  field(out, target.data(), target.size());
  uint8_t srv[6] = {uint8_t(f.priority >> 8), uint8_t(f.priority), uint8_t(f.weight >> 8),
                    uint8_t(f.weight),        uint8_t(f.port >> 8),     uint8_t(f.port)};
  field(out, srv, sizeof srv);
  std::vector<TxtEntry> entries;
  for (const auto& e : f.txt)
    if (e.key != kSigKey) entries.push_back(e);
  auto strings = txt_strings(entries);
  std::sort(strings.begin(), strings.end());
  uint8_t count[2] = {uint8_t(strings.size() >> 8), uint8_t(strings.size())};
  out.insert(out.end(), count, count + 2);
  for (const auto& s : strings) field(out, s.data(), s.size());
  auto addrs = f.addresses;
  std::sort(addrs.begin(), addrs.end());
  addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
  count[0] = uint8_t(addrs.size() >> 8);
  count[1] = uint8_t(addrs.size());
  out.insert(out.end(), count, count + 2);
  for (const auto& a : addrs) {
    out.push_back(a.family);
    out.insert(out.end(), a.bytes.begin(), a.bytes.begin() + a.size());
  }
  return out;
}

std::string sign(const SignedFields& f, const PrivateKey& key) {
  auto msg = canonical_bytes(f);
  uint8_t sig[64];
  if (!ED25519_sign(sig, msg.data(), msg.size(), key.data())) return {};
  uint8_t b64[89];
  size_t n = EVP_EncodeBlock(b64, sig, sizeof sig);
  return std::string(reinterpret_cast<char*>(b64), n);
}

bool verify(const SignedFields& f, std::string_view sig_base64, const PublicKey& key) {
  if (sig_base64.size() != 88) return false;
  uint8_t sig[66];
  size_t n = 0;
  if (!EVP_DecodeBase64(sig, &n, sizeof sig, reinterpret_cast<const uint8_t*>(sig_base64.data()),
                        sig_base64.size()) ||
      n != 64)
    return false;
  auto msg = canonical_bytes(f);
  return ED25519_verify(msg.data(), msg.size(), sig, key.data()) == 1;
}

PrivateKey key_from_seed(const std::array<uint8_t, 32>& seed) {
  PrivateKey priv;
  uint8_t pub[32];
  ED25519_keypair_from_seed(pub, priv.data(), seed.data());
  return priv;
}

PublicKey public_key_of(const PrivateKey& key) {
  PublicKey p;
  std::memcpy(p.data(), key.data() + 32, 32);
  return p;
}

std::optional<PrivateKey> private_key_from_pem(std::string_view pem) {
  EVP_PKEY* k = read_pem(pem, true);
  if (!k) return std::nullopt;
  std::array<uint8_t, 32> seed;
  size_t len = seed.size();
  bool ok = EVP_PKEY_get_raw_private_key(k, seed.data(), &len) == 1 && len == 32;
  EVP_PKEY_free(k);
  if (!ok) return std::nullopt;
  return key_from_seed(seed);
}

std::optional<PublicKey> public_key_from_pem(std::string_view pem) {
  EVP_PKEY* k = read_pem(pem, false);
  if (!k) return std::nullopt;
  PublicKey p;
  size_t len = p.size();
  bool ok = EVP_PKEY_get_raw_public_key(k, p.data(), &len) == 1 && len == 32;
  EVP_PKEY_free(k);
  if (!ok) return std::nullopt;
  return p;
}

std::optional<PublicKey> public_key_from_base64(std::string_view b64) {
  uint8_t out[48];
  size_t n = 0;
  if (b64.size() > 64 ||
      !EVP_DecodeBase64(out, &n, sizeof out, reinterpret_cast<const uint8_t*>(b64.data()), b64.size()) ||
      n != 32)
    return std::nullopt;
  PublicKey p;
  std::memcpy(p.data(), out, 32);
  return p;
}

}  // namespace portico::mdns
