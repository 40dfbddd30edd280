#!/usr/bin/env python3
"""serve-stale (RFC 8767): when the upstream stops answering, an expired cached
answer is served (TTL 30) once the upstream attempt times out, and right after
that failed refresh without asking again; a name never cached gets SERVFAIL."""
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, dig
from portico_harness import TestContext, check, log, main


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("svc.example.test", "A", ["192.0.2.7"], ttl=1)
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint],
                            "  upstream_timeout: 300ms\n  cache: { serve_stale: 1h }\n"), port)

    r = dig(port, "svc.example.test")
    check(r.rdatas("A") == ["192.0.2.7"], f"warm-up: {r.answer}\n{r.output}")
    up.down = True
    time.sleep(1.5)  # the entry expires
    t0 = time.monotonic()
    r2 = dig(port, "svc.example.test", timeout=5)
    took = time.monotonic() - t0
    check(r2.status == "NOERROR" and r2.rdatas("A") == ["192.0.2.7"],
          f"upstream down: expected the stale answer, got {r2.status} {r2.answer}\n{r2.output}")
    check(r2.ttls("A") == [30], f"stale answer TTL: {r2.ttls('A')} (expected 30)")
    check(took < 3.0, f"stale answer took {took:.2f}s")
    check(up.count("svc.example.test") >= 2, "the refresh never reached the upstream")
    log(f"stale answer after {took:.2f}s, TTL 30")

    # right after a failed refresh, stale is served at once, without asking upstream again
    asked = up.count("svc.example.test")
    r3 = dig(port, "svc.example.test", timeout=5)
    check(r3.rdatas("A") == ["192.0.2.7"] and r3.ttls("A") == [30], f"second stale answer: {r3.answer}")
    check(up.count("svc.example.test") == asked, "a stale answer right after a failed refresh asked upstream again")

    # never cached + upstream down: SERVFAIL after the attempts time out
    r4 = dig(port, "other.example.test", timeout=5)
    check(r4.status == "SERVFAIL", f"uncached name with the upstream down: {r4.status}\n{r4.output}")
    log("uncached name: SERVFAIL")


if __name__ == "__main__":
    main(run, "serve-stale when the upstream is down")
