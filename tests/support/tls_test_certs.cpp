#include "tests/support/tls_test_certs.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace portico::testing {
namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tls_test_certs: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) die(what);
}

void add_name(X509_NAME* n, const char* field, const std::string& value) {
  if (value.empty()) return;
  check(X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
                                   reinterpret_cast<const uint8_t*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0),
        "X509_NAME_add_entry_by_txt");
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/portico-tls-XXXXXX";
  check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (DIR* d = opendir(path_.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") unlink((path_ + "/" + n).c_str());
    }
    closedir(d);
  }
  rmdir(path_.c_str());
}

bssl::UniquePtr<EVP_PKEY> make_key(KeyKind kind) {
  bssl::UniquePtr<EVP_PKEY> pkey(EVP_PKEY_new());
  check(pkey != nullptr, "EVP_PKEY_new");
  if (kind == KeyKind::kEcdsaP256) {
    bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    check(ec && EC_KEY_generate_key(ec.get()), "EC_KEY_generate_key");
    check(EVP_PKEY_assign_EC_KEY(pkey.get(), ec.release()), "EVP_PKEY_assign_EC_KEY");
  } else {
    bssl::UniquePtr<RSA> rsa(RSA_new());
    bssl::UniquePtr<BIGNUM> e(BN_new());
    check(rsa && e && BN_set_word(e.get(), RSA_F4) &&
              RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr),
          "RSA_generate_key_ex");
    check(EVP_PKEY_assign_RSA(pkey.get(), rsa.release()), "EVP_PKEY_assign_RSA");
  }
  return pkey;
}

Issued make_cert(const CertSpec& spec, const Issued* issuer) {
  Issued out;
  out.key = make_key(spec.key);
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  check(x && X509_set_version(x, X509_VERSION_3), "X509_set_version");
  uint8_t serial_bytes[8];
  RAND_bytes(serial_bytes, sizeof serial_bytes);
  serial_bytes[0] &= 0x7f;
  bssl::UniquePtr<BIGNUM> serial(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  check(serial && BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)), "serial");
  time_t now = std::time(nullptr);
  check(X509_time_adj_ex(X509_getm_notBefore(x), 0, spec.not_before, &now) != nullptr,
        "notBefore");
  check(X509_time_adj_ex(X509_getm_notAfter(x), 0, spec.not_after, &now) != nullptr, "notAfter");
  X509_NAME* subject = X509_get_subject_name(x);
  add_name(subject, "O", spec.org);
  add_name(subject, "CN", spec.cn);
  check(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get()) : subject),
        "X509_set_issuer_name");
  check(X509_set_pubkey(x, out.key.get()), "X509_set_pubkey");

  if (spec.ca) {
    bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
    bc->ca = 1;
    check(X509_add1_ext_i2d(x, NID_basic_constraints, bc.get(), 1, X509V3_ADD_DEFAULT),
          "basicConstraints");
  }
  if (!spec.dns.empty() || !spec.ips.empty()) {
    GENERAL_NAMES* gens = sk_GENERAL_NAME_new_null();
    check(gens != nullptr, "sk_GENERAL_NAME_new_null");
    for (const auto& d : spec.dns) {
      GENERAL_NAME* g = GENERAL_NAME_new();
      ASN1_IA5STRING* s = ASN1_IA5STRING_new();
      check(g && s && ASN1_STRING_set(s, d.data(), static_cast<int>(d.size())), "dNSName");
      GENERAL_NAME_set0_value(g, GEN_DNS, s);
      check(sk_GENERAL_NAME_push(gens, g), "push");
    }
    for (const auto& ip : spec.ips) {
      uint8_t buf[16];
      int len = inet_pton(AF_INET, ip.c_str(), buf) == 1 ? 4
                : inet_pton(AF_INET6, ip.c_str(), buf) == 1 ? 16 : 0;
      check(len != 0, "ip literal");
      GENERAL_NAME* g = GENERAL_NAME_new();
      ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
      check(g && s && ASN1_OCTET_STRING_set(s, buf, len), "iPAddress");
      GENERAL_NAME_set0_value(g, GEN_IPADD, s);
      check(sk_GENERAL_NAME_push(gens, g), "push");
    }
    int ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
    sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
    check(ok == 1, "subjectAltName");
  }
  EVP_PKEY* signer = issuer ? issuer->key.get() : out.key.get();
  check(X509_sign(x, signer, EVP_sha256()) > 0, "X509_sign");
  return out;
}

void write_chain(const std::string& path, const std::vector<X509*>& certs) {
  FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "fopen");
  for (X509* c : certs) check(PEM_write_X509(f, c), "PEM_write_X509");
  std::fclose(f);
}

void write_cert(const std::string& path, X509* cert) { write_chain(path, {cert}); }

void write_key(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "fopen");
  check(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_PrivateKey");
  std::fclose(f);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "fopen");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

Issued write_pair(const TempDir& dir, const std::string& name, const CertSpec& spec,
                  const Issued* issuer) {
  Issued is = make_cert(spec, issuer);
  write_cert(dir.file(name + ".pem"), is.cert.get());
  write_key(dir.file(name + ".key"), is.key.get());
  return is;
}

}  // namespace portico::testing
