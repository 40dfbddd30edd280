#pragma once
// Test-time certificates for the TLS tests, fuzz target and benchmark:
// keys and X.509 certificates made with BoringSSL in memory and written as
// PEM into a temporary directory that is removed afterwards. No private key
// is ever committed. Single-threaded test helper.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

namespace portico::testing {

// A fresh directory under $TMPDIR (or /tmp); removed with its files.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

enum class KeyKind { kEcdsaP256, kRsa2048 };

struct CertSpec {
  std::string cn;
  std::vector<std::string> dns;  // subjectAltName dNSNames
  std::vector<std::string> ips;  // subjectAltName iPAddresses
  std::string org;
  KeyKind key = KeyKind::kEcdsaP256;
  bool ca = false;
  long not_before = -3600;        // seconds relative to now
  long not_after = 30L * 86400;   // seconds relative to now
};

struct Issued {
  bssl::UniquePtr<X509> cert;
  bssl::UniquePtr<EVP_PKEY> key;
};

bssl::UniquePtr<EVP_PKEY> make_key(KeyKind kind);
// Signed by `issuer`, or self-signed when issuer is null. Aborts on failure.
Issued make_cert(const CertSpec& spec, const Issued* issuer);

// PEM files. write_chain writes the certificates in order.
void write_cert(const std::string& path, X509* cert);
void write_chain(const std::string& path, const std::vector<X509*>& certs);
void write_key(const std::string& path, EVP_PKEY* key);
void write_bytes(const std::string& path, const std::string& bytes);

// Writes <dir>/<name>.pem and <dir>/<name>.key for `spec` issued by `issuer`;
// returns the Issued pair.
Issued write_pair(const TempDir& dir, const std::string& name, const CertSpec& spec,
                  const Issued* issuer);

}  // namespace portico::testing
