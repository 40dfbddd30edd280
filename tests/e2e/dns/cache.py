#!/usr/bin/env python3
"""DNS cache: a miss is forwarded once and the repeat is a hit (not forwarded);
TTLs count down in cached answers; an expired entry is fetched again; a
different type is a different entry; NXDOMAIN is cached with its SOA
(RFC 2308); SERVFAIL from the upstream is not cached as an answer."""
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, dig
from portico_harness import TestContext, check, log, main


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("www.example.test", "A", ["192.0.2.1", "192.0.2.2"], ttl=300)
    up.set("www.example.test", "AAAA", ["2001:db8::1"], ttl=120)
    up.set("short.example.test", "A", ["192.0.2.9"], ttl=1)
    up.set_nxdomain("nope.example.test", zone="example.test", soa_ttl=60, minimum=30)
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint]), port)

    # 1. miss, then hit
    r = dig(port, "www.example.test")
    check(r.status == "NOERROR", f"first query: status {r.status}\n{r.output}")
    check(sorted(r.rdatas("A")) == ["192.0.2.1", "192.0.2.2"], f"first query: answer {r.answer}")
    check(r.ttls("A") == [300, 300], f"first query: TTLs {r.ttls('A')}")
    check("ra" in r.flags and "aa" not in r.flags, f"first query: flags {r.flags}")
    check(up.count("www.example.test", "A") == 1, f"upstream saw {up.count('www.example.test', 'A')} queries")
    r2 = dig(port, "www.example.test")
    check(sorted(r2.rdatas("A")) == ["192.0.2.1", "192.0.2.2"], f"second query: answer {r2.answer}")
    check(up.count("www.example.test", "A") == 1, "the second query was forwarded: no cache hit")
    log("miss then hit: one upstream query")

    # 2. TTL countdown
    time.sleep(2.2)
    r3 = dig(port, "www.example.test")
    ttls = r3.ttls("A")
    check(ttls and all(290 <= x <= 298 for x in ttls), f"TTL after 2.2 s: {ttls} (expected 290..298)")
    check(up.count("www.example.test", "A") == 1, "cached entry was forwarded again before expiry")
    log(f"TTL counts down: {ttls}")

    # 3. another type is another entry; case does not matter
    r4 = dig(port, "WWW.Example.TEST", "AAAA")
    check(r4.rdatas("AAAA") == ["2001:db8::1"], f"AAAA: {r4.answer}")
    check(up.count("www.example.test", "AAAA") == 1, "AAAA not forwarded")
    dig(port, "www.EXAMPLE.test", "AAAA")
    check(up.count("www.example.test", "AAAA") == 1, "mixed-case repeat was not a cache hit")

    # 4. expiry: a 1 s TTL is fetched again after it ran out
    r5 = dig(port, "short.example.test")
    check(r5.rdatas("A") == ["192.0.2.9"], f"short: {r5.answer}")
    time.sleep(1.5)
    up.set("short.example.test", "A", ["192.0.2.10"], ttl=1)
    r6 = dig(port, "short.example.test")
    check(r6.rdatas("A") == ["192.0.2.10"], f"after expiry: {r6.answer} (expected the new answer)")
    check(up.count("short.example.test", "A") == 2, f"expired entry: upstream saw {up.count('short.example.test')}")
    log("expired entry fetched again")

    # 5. NXDOMAIN cached, with the SOA in the authority section
    n1 = dig(port, "nope.example.test")
    check(n1.status == "NXDOMAIN", f"nxdomain: {n1.status}\n{n1.output}")
    check(any(rr[2] == "SOA" for rr in n1.authority), f"nxdomain: no SOA in authority {n1.authority}")
    n2 = dig(port, "nope.example.test")
    check(n2.status == "NXDOMAIN", f"nxdomain repeat: {n2.status}")
    check(up.count("nope.example.test") == 1, f"NXDOMAIN not cached: upstream saw {up.count('nope.example.test')}")
    soa_ttl = [rr[1] for rr in n2.authority if rr[2] == "SOA"]
    check(soa_ttl and soa_ttl[0] <= 30, f"negative TTL should be min(SOA TTL, MINIMUM) = 30: {soa_ttl}")
    log("NXDOMAIN cached")

    # 6. a name the upstream does not know (no records, no SOA): NOERROR/NODATA
    # without SOA is not cached (RFC 2308 needs an SOA to cache negative answers)
    dig(port, "nosoa.example.test")
    dig(port, "nosoa.example.test")
    check(up.count("nosoa.example.test") == 2, f"answer without SOA was cached: {up.count('nosoa.example.test')}")


if __name__ == "__main__":
    main(run, "DNS cache hit/miss, TTL countdown, expiry, NXDOMAIN caching")
