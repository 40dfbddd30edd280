#include "proxy/tls/cert_loader.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace portico::tls {
namespace {

std::string asn1_time_str(const ASN1_TIME* t) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || !ASN1_TIME_print(bio.get(), t)) return "?";
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

// A DNS name from a certificate, normalised; empty if it is not a usable name.
std::string normalise_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return {};
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '*') {
      // Only a whole leftmost label: "*.example.test".
      if (i != 0 || s.size() < 3 || s[1] != '.') return {};
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_')) {
      return {};
    }
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

int no_password(char*, int, int, void*) { return 0; }

}  // namespace

std::string take_ssl_error() {
  uint32_t e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* lib = ERR_lib_error_string(e);
  const char* reason = ERR_reason_error_string(e);
  std::string s = lib ? lib : "crypto";
  s += ": ";
  s += reason ? reason : "unknown reason";
  return s;
}

bool read_file(const std::string& path, size_t max_bytes, std::string* out, std::string* error) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  out->clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    if (out->size() + n > max_bytes) {
      *error = path + ": file larger than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
    out->append(buf, n);
  }
  if (std::ferror(f.get())) {
    *error = path + ": read error";
    return false;
  }
  return true;
}

bool load_pem_certs(const std::string& path, std::vector<bssl::UniquePtr<X509>>* out,
                    std::string* error) {
  std::string pem;
  if (!read_file(path, kMaxPemFile, &pem, error)) return false;
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    *error = path + ": out of memory";
    return false;
  }
  out->clear();
  ERR_clear_error();
  while (true) {
    bssl::UniquePtr<X509> x(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (!x) break;
    out->push_back(std::move(x));
  }
  uint32_t e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE && !out->empty()) {
    ERR_clear_error();  // normal end of file
    return true;
  }
  if (out->empty() && (e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM &&
                                  ERR_GET_REASON(e) == PEM_R_NO_START_LINE))) {
    ERR_clear_error();
    *error = path + ": no PEM certificate found";
    return false;
  }
  *error = path + ": bad PEM certificate (" + take_ssl_error() + ")";
  return false;
}

std::optional<CertKey> load_cert_key(const std::string& cert_file, const std::string& key_file,
                                     const std::optional<std::string>& ocsp_file, time_t now,
                                     std::string* error) {
  CertKey ck;
  ck.cert_file = cert_file;
  ck.key_file = key_file;
  std::vector<bssl::UniquePtr<X509>> certs;
  if (!load_pem_certs(cert_file, &certs, error)) return std::nullopt;

  std::string pem;
  if (!read_file(key_file, kMaxPemFile, &pem, error)) return std::nullopt;
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ERR_clear_error();
  ck.key.reset(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr) : nullptr);
  if (!ck.key) {
    *error = key_file + ": no usable private key (" + take_ssl_error() +
             "; encrypted keys are not supported)";
    return std::nullopt;
  }
  switch (EVP_PKEY_id(ck.key.get())) {
    case EVP_PKEY_EC: ck.type = KeyType::kEcdsa; break;
    case EVP_PKEY_RSA: ck.type = KeyType::kRsa; break;
    default:
      *error = key_file + ": unsupported key type (ECDSA or RSA keys only)";
      return std::nullopt;
  }

  ck.leaf = bssl::UpRef(certs.front());
  if (!X509_check_private_key(ck.leaf.get(), ck.key.get())) {
    ERR_clear_error();
    *error = key_file + ": private key does not match the certificate in " + cert_file;
    return std::nullopt;
  }
  time_t t = now;
  if (X509_cmp_time(X509_get0_notAfter(ck.leaf.get()), &t) <= 0) {
    *error = cert_file + ": certificate expired (not after " +
             asn1_time_str(X509_get0_notAfter(ck.leaf.get())) + ")";
    return std::nullopt;
  }

  for (const auto& x : certs) {
    uint8_t* der = nullptr;
    int len = i2d_X509(x.get(), &der);
    if (len <= 0) {
      *error = cert_file + ": cannot encode certificate (" + take_ssl_error() + ")";
      return std::nullopt;
    }
    ck.chain.emplace_back(CRYPTO_BUFFER_new(der, static_cast<size_t>(len), nullptr));
    OPENSSL_free(der);
    if (!ck.chain.back()) {
      *error = cert_file + ": out of memory";
      return std::nullopt;
    }
  }
  for (const auto& b : ck.chain) ck.chain_ptrs.push_back(b.get());
  ck.names = dns_names(ck.leaf.get());

  if (ocsp_file) {
    std::string der;
    if (!read_file(*ocsp_file, kMaxOcspFile, &der, error)) return std::nullopt;
    // An OCSPResponse is a DER SEQUENCE; BoringSSL does not parse it further.
    if (der.size() < 2 || static_cast<uint8_t>(der[0]) != 0x30) {
      *error = *ocsp_file + ": not a DER OCSP response";
      return std::nullopt;
    }
    ck.ocsp.reset(
        CRYPTO_BUFFER_new(reinterpret_cast<const uint8_t*>(der.data()), der.size(), nullptr));
  }
  return ck;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> names;
  auto* gens = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (gens) {
    for (size_t i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
      if (g->type != GEN_DNS) continue;
      const ASN1_STRING* s = g->d.dNSName;
      std::string n = normalise_name(std::string_view(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
          static_cast<size_t>(ASN1_STRING_length(s))));
      if (!n.empty()) names.push_back(std::move(n));
    }
    GENERAL_NAMES_free(gens);
  }
  ERR_clear_error();
  if (!names.empty()) return names;
  const X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) {
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    uint8_t* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len > 0) {
      std::string n = normalise_name(
          std::string_view(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len)));
      if (!n.empty()) names.push_back(std::move(n));
    }
    OPENSSL_free(utf8);
  }
  ERR_clear_error();
  return names;
}

std::string name_rfc2253(const X509_NAME* name) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return {};
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  std::string out;
  out.reserve(len);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < len; ++i) {
    uint8_t c = data[i];
    if (c < 0x20 || c == 0x7f) {  // already escaped by ESC_CTRL; belt and braces
      out += '\\';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace portico::tls
