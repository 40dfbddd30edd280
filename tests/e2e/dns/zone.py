#!/usr/bin/env python3
"""Local data: a zone file written by the test is served authoritatively (AA;
NXDOMAIN and NODATA carry the zone's SOA, TTL min(SOA TTL, MINIMUM); CNAME
chased; wildcard), config `records` are answered locally, and none of it is
forwarded; names outside the local data still go upstream."""
import os

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, dig
from portico_harness import TestContext, check, log, main

ZONE = """$ORIGIN example.test.
$TTL 300
@       IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60
@       IN NS  ns1
ns1     IN A   127.0.0.53
www     IN A   192.0.2.80
www     IN A   192.0.2.81
alias   IN CNAME www
*.wild  IN A   192.0.2.99
"""


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("www.elsewhere.test", "A", ["198.51.100.5"])
    zone_path = os.path.join(t.tmpdir, "example.test.zone")
    with open(zone_path, "w") as f:
        f.write(ZONE)
    port = t.port("both")
    extra = (f'  zones: [ {{ name: example.test, file: "{zone_path}" }} ]\n'
             '  records:\n'
             '    - "host.records.test. 120 IN A 10.9.8.7"\n'
             '    - "host.records.test. 120 IN TXT \\"hello world\\""\n')
    start_dns(t, dns_config(port, [up.endpoint], extra), port)

    r = dig(port, "www.example.test")
    check(r.status == "NOERROR" and "aa" in r.flags, f"www: {r.status} flags {r.flags}\n{r.output}")
    check(sorted(r.rdatas("A")) == ["192.0.2.80", "192.0.2.81"] and r.ttls("A") == [300, 300], f"www: {r.answer}")

    r = dig(port, "missing.example.test")
    check(r.status == "NXDOMAIN" and "aa" in r.flags, f"missing: {r.status} {r.flags}\n{r.output}")
    soa = [rr for rr in r.authority if rr[2] == "SOA"]
    check(len(soa) == 1 and soa[0][0] == "example.test." and soa[0][1] == 60,
          f"NXDOMAIN SOA (expected example.test. with TTL 60): {r.authority}")

    r = dig(port, "www.example.test", "AAAA")
    check(r.status == "NOERROR" and not r.answer and any(rr[2] == "SOA" for rr in r.authority)
          and "aa" in r.flags, f"NODATA: {r.status} {r.answer} {r.authority}")

    r = dig(port, "alias.example.test")
    check([rr[2] for rr in r.answer][:1] == ["CNAME"] and sorted(r.rdatas("A")) == ["192.0.2.80", "192.0.2.81"],
          f"CNAME chase: {r.answer}")
    r = dig(port, "anything.wild.example.test")
    check(r.rdatas("A") == ["192.0.2.99"] and "aa" in r.flags, f"wildcard: {r.answer}")
    log("zone: AA answers, NXDOMAIN/NODATA with SOA, CNAME, wildcard")

    r = dig(port, "host.records.test")
    check(r.rdatas("A") == ["10.9.8.7"] and r.ttls("A") == [120] and "aa" in r.flags, f"record A: {r.answer} {r.flags}")
    r = dig(port, "host.records.test", "TXT")
    check(r.rdatas("TXT") == ['"hello world"'], f"record TXT: {r.answer}")
    r = dig(port, "host.records.test", "AAAA")
    check(r.status == "NOERROR" and not r.answer, f"record NODATA: {r.status} {r.answer}")
    log("config records answered locally")

    check(up.count() == 0, f"local data was forwarded: upstream saw {up.queries}")
    r = dig(port, "www.elsewhere.test")
    check(r.rdatas("A") == ["198.51.100.5"] and "aa" not in r.flags, f"outside local data: {r.answer} {r.flags}")
    check(up.count() == 1, "a name outside the local data was not forwarded")


if __name__ == "__main__":
    main(run, "zone file and config records answered authoritatively")
