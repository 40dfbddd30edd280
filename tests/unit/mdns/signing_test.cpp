#include <doctest/doctest.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#pragma GCC diagnostic pop

#include "mdns/signing.hpp"
#include "tests/unit/mdns/solo.hpp"

using namespace portico::mdns;
using namespace portico::mdns::test;

namespace {

const IpAddress kServer = IpAddress::v4(127, 0, 0, 2);
const IpAddress kClient = IpAddress::v4(127, 0, 0, 3);

std::array<uint8_t, 32> seed(uint8_t v) {
  std::array<uint8_t, 32> s;
  s.fill(v);
  return s;
}

SignedFields fields() {
  return SignedFields{N("Web._http._tcp.local"), N("host.local"), 8080, 1, 2,
                      {{"path", "/", true}, {"v", "", false}},
                      {IpAddress::v4(127, 0, 0, 2), *IpAddress::parse("::1")}};
}

// Runs a signing server and a browser with `trusted` keys; returns the browser's instances.
std::vector<Instance> browse_signed(std::optional<PrivateKey> key, std::vector<PublicKey> trusted,
                                    size_t* events = nullptr) {
  FixedRandom r1, r2;
  Options so = host_options("server", kServer);
  so.services.push_back(web_service());
  so.signing.private_key = key;
  Options co = host_options("client", kClient);
  co.browse = {"_http._tcp"};
  co.signing.trusted_keys = std::move(trusted);
  Engine server(so, r1), client(co, r2);
  Lan lan;
  lan.add(server, kServer);
  lan.add(client, kClient);
  lan.start_all();
  lan.run_until(at(10000));
  if (events) *events = lan.nodes[1].events.size();
  return client.instances("_http._tcp");
}

}  // namespace

TEST_CASE("canonical bytes ignore address order and the sig entry, and cover every field") {
  auto f = fields();
  auto base = canonical_bytes(f);
  auto g = f;
  std::swap(g.addresses[0], g.addresses[1]);
  g.txt.push_back({"sig", "whatever", true});
  CHECK(canonical_bytes(g) == base);
  g = f;
  g.instance = N("WEB._http._tcp.local");  // names compare case-insensitively
  CHECK(canonical_bytes(g) == base);
  for (int i = 0; i < 6; ++i) {
    g = f;
    switch (i) {
      case 0: g.port = 8081; break;
      case 1: g.priority = 9; break;
      case 2: g.weight = 9; break;
      case 3: g.target = N("other.local"); break;
      case 4: g.txt[0].value = "/x"; break;
      case 5: g.addresses.pop_back(); break;
    }
    CHECK(canonical_bytes(g) != base);
  }
}

TEST_CASE("sign and verify round trip; tampering and wrong keys fail") {
  auto key = key_from_seed(seed(1));
  auto f = fields();
  std::string sig = sign(f, key);
  CHECK(sig.size() == 88);
  CHECK(verify(f, sig, public_key_of(key)));
  CHECK_FALSE(verify(f, sig, public_key_of(key_from_seed(seed(2)))));
  auto g = f;
  g.port = 1;
  CHECK_FALSE(verify(g, sig, public_key_of(key)));
  CHECK_FALSE(verify(f, "not base64 at all", public_key_of(key)));
  CHECK_FALSE(verify(f, std::string(88, 'A'), public_key_of(key)));
}

TEST_CASE("keys load from PEM (PKCS#8 / SPKI) and raw base64") {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed(7).data(), 32);
  REQUIRE(pkey);
  auto pem_of = [&](bool priv) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv) PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    else PEM_write_bio_PUBKEY(bio, pkey);
    const uint8_t* data = nullptr;
    size_t len = 0;
    BIO_mem_contents(bio, &data, &len);
    std::string s(reinterpret_cast<const char*>(data), len);
    BIO_free(bio);
    return s;
  };
  std::string priv = pem_of(true), pub = pem_of(false);
  EVP_PKEY_free(pkey);
  auto k = private_key_from_pem(priv);
  REQUIRE(k);
  CHECK(*k == key_from_seed(seed(7)));
  auto p = public_key_from_pem(pub);
  REQUIRE(p);
  CHECK(*p == public_key_of(*k));
  CHECK_FALSE(private_key_from_pem("garbage"));
  CHECK_FALSE(public_key_from_pem(priv));
  // 32 bytes of 0x07 in base64
  auto b = public_key_from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=");
  REQUIRE(b);
  CHECK((*b)[0] == 7);
  CHECK_FALSE(public_key_from_base64("AAAA"));
}

TEST_CASE("browser with trusted keys accepts only instances signed by one of them") {
  auto key = key_from_seed(seed(1));
  auto pub = public_key_of(key);
  auto other = public_key_of(key_from_seed(seed(2)));
  size_t events = 0;

  auto ok = browse_signed(key, {other, pub}, &events);
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].signature_verified);
  CHECK(ok[0].txt == std::vector<TxtEntry>{{"path", "/", true}});  // sig entry not reported
  CHECK(events == 1);

  CHECK(browse_signed(key, {other}, &events).empty());
  CHECK(events == 0);
  CHECK(browse_signed(std::nullopt, {pub}, &events).empty());  // unsigned
  CHECK(events == 0);
  auto open = browse_signed(key, {});  // no trusted keys: signatures not checked
  REQUIRE(open.size() == 1);
  CHECK_FALSE(open[0].signature_verified);
}

TEST_CASE("a tampered TXT record with a valid-looking sig is ignored") {
  auto key = key_from_seed(seed(1));
  Options co = host_options("client", kClient);
  co.browse = {"_http._tcp"};
  co.signing.trusted_keys = {public_key_of(key)};
  Solo s(co);
  s.start(kT0);
  Name full = N("Web._http._tcp.local");
  SignedFields f{full, N("test.local"), 80, 0, 0, {{"path", "/", true}}, {IpAddress::v4(127, 0, 0, 4)}};
  std::string sig = sign(f, key);
  auto records = [&](const std::string& path) {
    return std::vector<Record>{
        Record{N("_http._tcp.local"), rrtype::kPtr, kClassIn, false, 4500, rdata_name(full)},
        Record{full, rrtype::kSrv, kClassIn, true, 120, rdata_srv(0, 0, 80, N("test.local"))},
        Record{full, rrtype::kTxt, kClassIn, true, 4500, rdata_txt({"path=" + path, "sig=" + sig})},
        Record{N("test.local"), rrtype::kA, kClassIn, true, 120, {127, 0, 0, 4}},
    };
  };
  s.feed(response_bytes(records("/evil")), mdns_source(kServer), at(500));
  CHECK(s.engine.instances("_http._tcp").empty());
  CHECK(s.events.empty());
  CHECK(s.engine.stats().signature_rejects == 1);
  s.feed(response_bytes(records("/")), mdns_source(kServer), at(3000));
  CHECK(s.engine.instances("_http._tcp").size() == 1);
  REQUIRE(s.events.size() == 1);
  CHECK(s.events[0].kind == BrowseEvent::Kind::kAdded);
}
