#!/usr/bin/env python3
"""mDNS discovery between two portico instances, one per network namespace: each publishes a
service and browses _http._tcp; each logs `mdns: added` for the other's service with its
host name, port, interface, both addresses (IPv4 and IPv6 link-local) and TXT record, and
for its own service too (multicast loopback). The interface list is left empty on one side
(all multicast interfaces) and names the veth on the other. Then an address added to
alpha's interface is picked up (interface re-scan, every 5 s) and beta sees it."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import NetnsPair, NsPortico, TestContext, check, mdns_config, log  # noqa: E402
from portico_harness import main  # noqa: E402


def run(t: TestContext) -> None:
    with NetnsPair() as pair:
        a = NsPortico(t, pair, 0, mdns_config(
            "alpha", services='[ { name: "Alpha web", type: _http._tcp, port: 8080, txt: { path: "/a" } } ]'),
            name="alpha")
        b = NsPortico(t, pair, 1, mdns_config(
            "beta", interfaces=f"[{pair.ifname[1]}]",
            services='[ { name: "Beta web", type: _http._tcp, subtypes: [_printer], port: 8081, '
                     'txt: { path: "/b", v: "2" }, priority: 1, weight: 5 } ]'),
            name="beta")
        a.start()
        b.start()
        a.wait_started(t.backend)
        b.wait_started(t.backend)
        got_b = a.wait_added("Beta web", timeout=10)
        got_a = b.wait_added("Alpha web", timeout=10)
        log(f"alpha saw {got_b}")
        log(f"beta saw {got_a}")
        check(got_b["host"] == "beta.local" and got_b["port"] == "8081", f"alpha's view of beta: {got_b}")
        check(got_b["interface"] == pair.ifname[0], f"alpha found beta on {got_b['interface']}")
        check(got_b["addresses"] == f"{pair.ipv4[1]},{pair.ipv6[1]}", f"beta's addresses: {got_b['addresses']}")
        check(got_b["txt"] == "path=/b v=2", f"beta's TXT: {got_b['txt']!r}")
        check(got_a["host"] == "alpha.local" and got_a["port"] == "8080", f"beta's view of alpha: {got_a}")
        check(got_a["addresses"] == f"{pair.ipv4[0]},{pair.ipv6[0]}", f"alpha's addresses: {got_a['addresses']}")
        check(got_a["txt"] == "path=/a", f"alpha's TXT: {got_a['txt']!r}")
        # Each also finds its own service (its multicast comes back to it) ...
        a.wait_added("Alpha web", timeout=5)
        b.wait_added("Beta web", timeout=5)
        a.wait_log(r'mdns: established host=alpha\.local services="Alpha web"', timeout=5)
        b.wait_log(r'mdns: established host=beta\.local services="Beta web"', timeout=5)
        # ... and nothing was renamed or removed.
        for p in (a, b):
            check(not p.mdns_lines("renamed"), f"{p.name} renamed something: {p.mdns_lines('renamed')}")
            check(not p.mdns_lines("removed"), f"{p.name} removed something: {p.mdns_lines('removed')}")
        # Exactly one added line per instance (no duplicates from the two address families).
        for p in (a, b):
            names = sorted(x["instance"] for x in p.mdns_lines("added"))
            check(names == ["Alpha web", "Beta web"], f"{p.name} added lines: {names}")
        # A new address on alpha's interface: alpha restarts mdns on it, beta sees it.
        new_addr = f"{pair.net}.11"
        off = b.log_offset()
        pair.run(0, ["ip", "addr", "add", f"{new_addr}/24", "dev", pair.ifname[0]])
        a.wait_log(r"mdns: interfaces changed: " + pair.ifname[0], timeout=8, what="interface re-scan")
        want = f"{pair.ipv4[0]},{new_addr},{pair.ipv6[0]}"
        b.wait_log(r'mdns: (?:added|updated) type=_http._tcp instance="Alpha web" .*addresses=' + re.escape(want) + " ",
                   timeout=8, start=off, what=f"alpha with addresses {want}")
        a.stop()
        b.stop()


if __name__ == "__main__":
    main(run, "two porticos in two network namespaces discover each other's services")
