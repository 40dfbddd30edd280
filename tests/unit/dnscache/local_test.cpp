// Local authoritative data: zone files and config records.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "dns_test_support.hpp"

namespace portico::dnscache::test {
namespace {

// A zone file in a fresh temporary directory, removed at scope exit.
struct TempZone {
  explicit TempZone(const std::string& text) {
    char tmpl[] = "/tmp/dnscache_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/zone";
    std::ofstream(path) << text;
  }
  ~TempZone() {
    std::remove(path.c_str());
    std::remove(dir.c_str());
  }
  std::string dir, path;
};

const char* kZone = R"($ORIGIN example.test.
$TTL 300
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 120
@       IN NS  ns1
ns1     IN A   127.0.0.2
www     IN A   127.0.0.10
www     IN A   127.0.0.11
www     IN AAAA ::1
alias   IN CNAME www
alias2  IN CNAME alias
outside IN CNAME www.elsewhere.test.
loop1   IN CNAME loop2
loop2   IN CNAME loop1
a.b.c   IN TXT "deep"
*.wild  IN A   127.0.0.99
)";

Options zone_options(const std::string& path) {
  Options o = base_options();
  o.zones = {{"example.test", path}};
  o.records = {"extra.example.test. 60 IN A 127.0.0.50", "solo.other. 60 IN A 127.0.0.60"};
  return o;
}

}  // namespace

TEST_CASE("a zone name is answered authoritatively, never forwarded") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("www.example.test.", LDNS_RR_TYPE_A, {.id = 5});
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_aa(r.get()));
  CHECK(ldns_pkt_id(r.get()) == 5);
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NOERROR);
  auto ans = section(r.get(), LDNS_SECTION_ANSWER);
  REQUIRE(ans.size() == 2);
  CHECK(ans[0] == "www.example.test. 300 IN A 127.0.0.10");
  CHECK(ans[1] == "www.example.test. 300 IN A 127.0.0.11");
  CHECK(h.engine->stats().local_answers == 1);
}

TEST_CASE("a missing name is NXDOMAIN with the zone SOA, TTL from the SOA minimum") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("nothere.example.test.", LDNS_RR_TYPE_A);
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_aa(r.get()));
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NXDOMAIN);
  CHECK(ldns_pkt_ancount(r.get()) == 0);
  auto auth = section(r.get(), LDNS_SECTION_AUTHORITY);
  REQUIRE(auth.size() == 1);
  CHECK(auth[0].rfind("example.test. 120 IN SOA ns1.example.test. hostmaster.example.test.", 0) == 0);
}

TEST_CASE("a missing type is NODATA with the SOA; an empty non-terminal too") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("www.example.test.", LDNS_RR_TYPE_MX);
  PktPtr r = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_ancount(r.get()) == 0);
  CHECK(ldns_pkt_nscount(r.get()) == 1);
  h.ask("b.c.example.test.", LDNS_RR_TYPE_A);
  PktPtr ent = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(ent.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_nscount(ent.get()) == 1);
}

TEST_CASE("CNAME chains inside local data are followed") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("alias2.example.test.", LDNS_RR_TYPE_AAAA);
  PktPtr r = h.only_client_reply();
  auto ans = section(r.get(), LDNS_SECTION_ANSWER);
  REQUIRE(ans.size() == 3);
  CHECK(ans[0] == "alias2.example.test. 300 IN CNAME alias.example.test.");
  CHECK(ans[1] == "alias.example.test. 300 IN CNAME www.example.test.");
  CHECK(ans[2] == "www.example.test. 300 IN AAAA ::1");
  CHECK(ldns_pkt_aa(r.get()));
  // Asking for the CNAME itself does not chase.
  h.ask("alias.example.test.", LDNS_RR_TYPE_CNAME);
  CHECK(section(h.only_client_reply().get(), LDNS_SECTION_ANSWER).size() == 1);
}

TEST_CASE("a CNAME leaving local data stops the chase; a CNAME loop is bounded") {
  TempZone z(kZone);
  Options o = zone_options(z.path);
  o.max_cname_chain = 5;
  Harness h(o);
  h.ask("outside.example.test.", LDNS_RR_TYPE_A);
  PktPtr r = h.only_client_reply();
  CHECK(section(r.get(), LDNS_SECTION_ANSWER).size() == 1);
  h.ask("loop1.example.test.", LDNS_RR_TYPE_A);
  PktPtr loop = h.only_client_reply();
  CHECK(ldns_pkt_ancount(loop.get()) == 5);
}

TEST_CASE("wildcards synthesize the query name") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("anything.wild.example.test.", LDNS_RR_TYPE_A);
  PktPtr r = h.only_client_reply();
  auto ans = section(r.get(), LDNS_SECTION_ANSWER);
  REQUIRE(ans.size() == 1);
  CHECK(ans[0] == "anything.wild.example.test. 300 IN A 127.0.0.99");
}

TEST_CASE("ANY gets one RRset from local data and a HINFO RFC8482 otherwise") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("www.example.test.", LDNS_RR_TYPE_ANY);
  PktPtr r = h.only_client_reply();
  auto ans = section(r.get(), LDNS_SECTION_ANSWER);
  REQUIRE(ans.size() == 2);  // the two A records, not the AAAA
  CHECK(ans[0].find(" IN A ") != std::string::npos);
  CHECK(ans[1].find(" IN A ") != std::string::npos);
  h.ask("Far.Away.", LDNS_RR_TYPE_ANY);
  PktPtr far = h.only_client_reply();
  auto fans = section(far.get(), LDNS_SECTION_ANSWER);
  REQUIRE(fans.size() == 1);
  CHECK(fans[0] == "Far.Away. 3600 IN HINFO \"RFC8482\" \"\"");
  CHECK(section(far.get(), LDNS_SECTION_QUESTION)[0] == "Far.Away. IN ANY");
}

TEST_CASE("config records join their zone or stand alone for their exact name") {
  TempZone z(kZone);
  Harness h(zone_options(z.path));
  h.ask("extra.example.test.", LDNS_RR_TYPE_A);
  CHECK(section(h.only_client_reply().get(), LDNS_SECTION_ANSWER)[0] == "extra.example.test. 60 IN A 127.0.0.50");
  h.ask("solo.other.", LDNS_RR_TYPE_A);
  PktPtr solo = h.only_client_reply();
  CHECK(ldns_pkt_aa(solo.get()));
  CHECK(ldns_pkt_ancount(solo.get()) == 1);
  h.ask("solo.other.", LDNS_RR_TYPE_AAAA);  // NODATA, no SOA to give
  PktPtr nodata = h.only_client_reply();
  CHECK(ldns_pkt_get_rcode(nodata.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_ancount(nodata.get()) == 0);
  CHECK(ldns_pkt_nscount(nodata.get()) == 0);
  h.ask("below.solo.other.", LDNS_RR_TYPE_A);  // not ours: forwarded
  h.only(SendKind::kToUpstreamUdp);
  h.ask("other.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
}

TEST_CASE("zone and record errors name the culprit") {
  SeededRandom rng(1);
  std::string err;
  Options o = base_options();
  o.zones = {{"example.test", "/nonexistent/zone"}};
  CHECK(Engine::create(o, rng, err) == nullptr);
  CHECK(err.find("zone example.test: cannot open /nonexistent/zone") == 0);

  TempZone bad("$ORIGIN example.test.\n@ IN SOA ns1 host 1 2 3 4 5\nwww IN A not-an-address\n");
  o.zones = {{"example.test", bad.path}};
  CHECK(Engine::create(o, rng, err) == nullptr);
  CHECK(err.find("zone example.test: " + bad.path + ":3") == 0);

  TempZone nosoa("$ORIGIN example.test.\nwww 300 IN A 127.0.0.1\n");
  o.zones = {{"example.test", nosoa.path}};
  CHECK(Engine::create(o, rng, err) == nullptr);
  CHECK(err.find("no SOA") != std::string::npos);

  o.zones.clear();
  o.records = {"www.example.test. 300 IN A 300.1.1.1"};
  CHECK(Engine::create(o, rng, err) == nullptr);
  CHECK(err.find("records[0]") == 0);
}

TEST_CASE("reload swaps local data and keeps the old on error") {
  TempZone z(kZone);
  Harness h(base_options());
  h.ask("www.example.test.", LDNS_RR_TYPE_A);
  h.only(SendKind::kToUpstreamUdp);
  std::string err;
  Options bad = base_options();
  bad.records = {"garbage"};
  CHECK_FALSE(h.engine->reload(bad, err));
  CHECK_FALSE(err.empty());
  CHECK(h.engine->reload(zone_options(z.path), err));
  h.ask("www.example.test.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_aa(h.only_client_reply().get()));
}

}  // namespace portico::dnscache::test

namespace portico::dnscache::test {

TEST_CASE("a local answer too large for any message is SERVFAIL, never forwarded") {
  std::string zone = "$ORIGIN fat.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 120\n";
  const std::string txt(250, 'x');
  for (int i = 0; i < 300; ++i) zone += "big IN TXT \"" + std::to_string(i) + txt + "\"\n";  // about 77 KB
  zone += "small IN A 127.0.0.1\n";
  TempZone z(zone);
  Options o = base_options();
  o.zones = {{"fat.test", z.path}};
  Harness h(o);
  for (ldns_rr_type type : {LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_ANY}) {
    h.ask("big.fat.test.", type, {.id = 21}, peer("127.0.0.1", 40001, Transport::kTcp, 3));
    PktPtr r = h.only_client_reply();
    CHECK(ldns_pkt_id(r.get()) == 21);
    CHECK(ldns_pkt_get_rcode(r.get()) == LDNS_RCODE_SERVFAIL);
    CHECK(section(r.get(), LDNS_SECTION_QUESTION).size() == 1);
  }
  CHECK(h.engine->outstanding() == 0);
  h.ask("small.fat.test.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_ancount(h.only_client_reply().get()) == 1);
}

}  // namespace portico::dnscache::test
