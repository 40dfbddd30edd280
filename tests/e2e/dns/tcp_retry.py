#!/usr/bin/env python3
"""A truncated (TC) upstream reply over UDP is retried over TCP to the same
upstream, and the client (over UDP) gets the full answer; the answer is then
cached. Also: two upstreams, one silent: the query fails over to the other."""
from dns_common import dns_config, start_dns
from fake_dns import FakeDns, dig
from portico_harness import TestContext, check, log, main

TXT = "v=test " + "x" * 200


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("big.example.test", "TXT", [TXT], ttl=300)
    up.tc_names.add("big.example.test.")
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint], "  upstream_timeout: 500ms\n"), port)

    r = dig(port, "big.example.test", "TXT")
    check(r.status == "NOERROR", f"status {r.status}\n{r.output}")
    got = "".join(part.strip('"') for part in r.rdatas("TXT")[0].split('" "')) if r.rdatas("TXT") else ""
    check(got == TXT, f"TXT answer: {r.answer}")
    check("tc" not in r.flags, f"client reply has TC: {r.flags}")
    check(up.count("big.example.test", "TXT", "udp") == 1 and up.count("big.example.test", "TXT", "tcp") == 1,
          f"upstream saw udp={up.count('big.example.test', 'TXT', 'udp')} "
          f"tcp={up.count('big.example.test', 'TXT', 'tcp')} (expected 1 and 1)")
    check(up.tcp_connections == 1, f"upstream TCP connections: {up.tcp_connections}")
    log("TC over UDP -> retried over TCP, full answer to the client")

    r2 = dig(port, "big.example.test", "TXT")
    check(r2.rdatas("TXT") == r.rdatas("TXT"), "cached TCP answer differs")
    check(up.count("big.example.test") == 2, "the TCP answer was not cached")

    # failover: the first upstream never answers, the second does
    silent = t.add(FakeDns(name="silent"))
    silent.down = True
    good = t.add(FakeDns(name="good"))
    port2 = t.port("both")
    start_dns(t, dns_config(port2, [silent.endpoint, good.endpoint], "  upstream_timeout: 300ms\n"), port2,
              name="portico2")
    for i in range(5):
        name = f"fo{i}.example.test"
        good.set(name, "A", [f"192.0.2.{50 + i}"])
        silent.set(name, "A", ["198.51.100.1"])
        r3 = dig(port2, name, timeout=5)
        check(r3.rdatas("A") == [f"192.0.2.{50 + i}"], f"failover {name}: {r3.status} {r3.answer}\n{r3.output}")
    check(good.count() == 5, f"the answering upstream saw {good.count()} queries (expected 5)")
    log(f"failover: all answered; silent upstream saw {silent.count()}, good {good.count()}")


if __name__ == "__main__":
    main(run, "TC upstream reply retried over TCP; failover between upstreams")
