#!/usr/bin/env python3
"""dns.allow: a client outside the allowed networks gets REFUSED (UDP and TCP)
and nothing is forwarded for it; an allowed client gets its answer. Portico
listens on 127.0.0.1; the refused client queries from 127.0.0.2 (dig -b)."""
from dns_common import dns_config, start_dns
from fake_dns import FakeDns, build_query, dig, udp_exchange
from portico_harness import TestContext, check, log, main


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("www.example.test", "A", ["192.0.2.1"])
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint], '  allow: ["127.0.0.1/32", "::1"]\n'), port)

    for tcp in (False, True):
        how = "tcp" if tcp else "udp"
        r = dig(port, "www.example.test", source="127.0.0.2", tcp=tcp)
        check(r.status == "REFUSED", f"{how} from 127.0.0.2: {r.status}\n{r.output}")
        check(not r.answer, f"{how}: REFUSED reply carries answers {r.answer}")
    check(up.count() == 0, f"a refused query was forwarded: {up.queries}")
    m = udp_exchange(("127.0.0.1", port), build_query("www.example.test", qid=4242), source="127.0.0.3")
    check(m is not None and m.id == 4242 and m.status == "REFUSED", f"raw query from 127.0.0.3: {m}")
    log("clients outside allow: REFUSED over UDP and TCP")

    r = dig(port, "www.example.test", source="127.0.0.1")
    check(r.status == "NOERROR" and r.rdatas("A") == ["192.0.2.1"], f"allowed client: {r.status} {r.answer}")
    check(up.count() == 1, "allowed query not forwarded")
    log("allowed client answered")


if __name__ == "__main__":
    main(run, "dns.allow refuses clients outside the allowed networks")
