#!/usr/bin/env python3
"""A wildcard dns.listen (0.0.0.0): UDP replies leave from the address the
query was sent to (IP_PKTINFO), here 127.0.0.2 while the kernel would pick
127.0.0.1; dig accepts only such replies. Runs in a private network namespace
(unshare -n, needs root or user namespaces), so the wildcard bind exposes
nothing; skipped (77) where that is not possible."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from netns_reexec import reexec_in_netns  # noqa: E402

reexec_in_netns("wildcard.py")

from dns_common import dns_config, start_dns  # noqa: E402
from fake_dns import FakeDns, build_query, dig, parse_message  # noqa: E402
from portico_harness import TestContext, check, log, main  # noqa: E402


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("www.example.test", "A", ["192.0.2.1"])
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint], '  records: ["local.test. 60 IN A 10.0.0.1"]\n', workers=2,
                            host="0.0.0.0"), port, host="0.0.0.0")

    for dest in ("127.0.0.2", "127.0.0.1", "127.0.0.3"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(2)
            for name, qid in (("local.test", 1), ("www.example.test", 2)):  # local answer, forwarded answer
                s.sendto(build_query(name, qid=qid), (dest, port))
                data, src = s.recvfrom(65535)
                check(src[0] == dest, f"query to {dest}: reply came from {src[0]}")
                check(parse_message(data).id == qid, "reply id")
    log("UDP replies come from the address each query was sent to")
    r = dig(port, "www.example.test", server="127.0.0.2")
    check(r.status == "NOERROR" and r.rdatas("A") == ["192.0.2.1"], f"dig @127.0.0.2: {r.status}\n{r.output}")
    r = dig(port, "local.test", server="127.0.0.2", tcp=True)
    check(r.rdatas("A") == ["10.0.0.1"], f"dig +tcp @127.0.0.2: {r.status}\n{r.output}")


if __name__ == "__main__":
    main(run, "wildcard dns.listen answers from the queried address")
