#pragma once
// Config-time loading of PEM certificate chains, private keys, CA bundles and
// OCSP responses, with the checks `portico -t` and reload report: key matches
// certificate, certificate not expired, supported key type. Error strings name
// the file. Main thread (or any thread at load time); never on the data path.

#include <openssl/base.h>
#include <openssl/pool.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef OPENSSL_IS_BORINGSSL
#error "proxy/tls is written for BoringSSL: put /usr/include/android before OpenSSL's headers"
#endif

namespace portico::tls {

inline constexpr size_t kMaxPemFile = 1 << 20;     // a chain or bundle larger than 1 MiB is refused
inline constexpr size_t kMaxOcspFile = 64 << 10;   // OCSP responses are a few KiB

enum class KeyType : uint8_t { kEcdsa, kRsa };

// One certificate chain with its key, ready to be installed on an SSL.
struct CertKey {
  std::string cert_file;
  std::string key_file;
  std::vector<bssl::UniquePtr<CRYPTO_BUFFER>> chain;  // DER, leaf first
  std::vector<CRYPTO_BUFFER*> chain_ptrs;  // the same, as SSL_set_chain_and_key wants them
  bssl::UniquePtr<X509> leaf;
  bssl::UniquePtr<EVP_PKEY> key;
  KeyType type = KeyType::kEcdsa;
  std::vector<std::string> names;  // lower case; wildcards kept as "*.example.test"
  bssl::UniquePtr<CRYPTO_BUFFER> ocsp;  // DER OCSP response to staple, or null
};

// Reads a whole file of at most max_bytes.
bool read_file(const std::string& path, size_t max_bytes, std::string* out, std::string* error);

// Every certificate in a PEM file (at least one).
bool load_pem_certs(const std::string& path, std::vector<bssl::UniquePtr<X509>>* out,
                    std::string* error);

// Loads cert + key (+ OCSP), checks them against each other and against `now`
// (seconds since the epoch). On failure returns nullopt and sets *error.
std::optional<CertKey> load_cert_key(const std::string& cert_file, const std::string& key_file,
                                     const std::optional<std::string>& ocsp_file, time_t now,
                                     std::string* error);

// DNS names a certificate is valid for: subjectAltName dNSNames, else the
// subject's CN. Lower case, trailing dot removed; invalid entries skipped.
std::vector<std::string> dns_names(X509* cert);

// One-line RFC 2253 form ("CN=alice,O=Example"); control characters escaped,
// so the result is safe in an HTTP header value.
std::string name_rfc2253(const X509_NAME* name);

// The oldest error on this thread's BoringSSL queue as text (queue cleared).
std::string take_ssl_error();

}  // namespace portico::tls
