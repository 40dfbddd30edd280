#!/usr/bin/env python3
"""mDNS over IPv6 only (ipv4: false on both porticos, although the interfaces also have
IPv4 addresses): they discover each other; the published addresses are the IPv6 ones only;
neither holds an IPv4 socket on port 5353 (only an IPv6 one)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import NetnsPair, NsPortico, TestContext, check, mdns_config  # noqa: E402
from portico_harness import main  # noqa: E402


def bound_5353(pair: NetnsPair, i: int, table: str) -> int:
    """How many sockets in namespace i are bound to port 5353 in /proc/net/<table>."""
    text = pair.run(i, ["cat", f"/proc/net/{table}"]).stdout
    return sum(1 for line in text.splitlines()[1:] if line.split()[1].endswith(":14E9"))


def run(t: TestContext) -> None:
    with NetnsPair() as pair:
        ps = []
        for i, name in enumerate(("alpha", "beta")):
            ps.append(NsPortico(t, pair, i, mdns_config(
                name, services=f'[ {{ name: "{name} v6", type: _http._tcp, port: {9000 + i} }} ]',
                extra="  ipv4: false\n"), name=name))
        for p in ps:
            p.start()
        for p in ps:
            p.wait_started(t.backend)
        b_seen = ps[0].wait_added("beta v6", timeout=10)
        a_seen = ps[1].wait_added("alpha v6", timeout=10)
        check(b_seen["addresses"] == pair.ipv6[1] and b_seen["port"] == "9001", f"alpha saw {b_seen}")
        check(a_seen["addresses"] == pair.ipv6[0] and a_seen["port"] == "9000", f"beta saw {a_seen}")
        for i in (0, 1):
            check(bound_5353(pair, i, "udp") == 0, f"namespace {i}: an IPv4 socket is bound to 5353")
            check(bound_5353(pair, i, "udp6") == 1, f"namespace {i}: expected one IPv6 socket on 5353")
        for p in ps:
            p.stop()


if __name__ == "__main__":
    main(run, "IPv6-only mDNS between two porticos")
