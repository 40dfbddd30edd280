#!/usr/bin/env python3
"""mDNS name conflicts between two porticos (one per network namespace) started together
with the same host name and the same service instance name: exactly one of them renames the
host ("twin" -> "twin-2") and exactly one renames the service ("Same" -> "Same (2)"); both
then see two distinct instances, "Same" and "Same (2)", on two distinct hosts, each with
the port of the portico that owns the name."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import NetnsPair, NsPortico, TestContext, check, mdns_config, log  # noqa: E402
from portico_harness import main  # noqa: E402


def run(t: TestContext) -> None:
    with NetnsPair() as pair:
        ports = [7001, 7002]
        ps = [NsPortico(t, pair, i, mdns_config(
            "twin", services=f'[ {{ name: "Same", type: _http._tcp, port: {ports[i]} }} ]'),
            name=f"twin{i}") for i in (0, 1)]
        for p in ps:
            p.start()
        for p in ps:
            p.wait_started(t.backend)
        # Renaming takes a lost probe or a conflict, then a new probe: a few seconds.
        for p in ps:
            p.wait_log(r"mdns: established host=\S+ services=", timeout=15, what="'mdns: established'")
        for p in ps:
            p.wait_added("Same (2)", timeout=10)
            p.wait_added("Same", timeout=10)
        host_lines = [(i, line) for i, p in enumerate(ps) for line in p.stderr_text().splitlines()
                      if "mdns: renamed host " in line]
        svc_lines = [(i, line) for i, p in enumerate(ps) for line in p.stderr_text().splitlines()
                     if "mdns: renamed service " in line]
        log(f"host renames: {host_lines}")
        log(f"service renames: {svc_lines}")
        check(len(host_lines) == 1 and host_lines[0][1].endswith("mdns: renamed host twin -> twin-2"),
              f"expected exactly one 'renamed host twin -> twin-2', got {host_lines}")
        check(len(svc_lines) == 1 and 'mdns: renamed service "Same" -> "Same (2)" type=_http._tcp' in svc_lines[0][1],
              f"expected exactly one service rename to \"Same (2)\", got {svc_lines}")
        host_renamer = host_lines[0][0]
        svc_renamer = svc_lines[0][0]
        hosts = ["twin.local", "twin.local"]
        hosts[host_renamer] = "twin-2.local"
        for p in ps:
            lines = {x["instance"]: x for x in p.mdns_lines("added")}
            same, same2 = lines["Same"], lines["Same (2)"]
            check(same2["port"] == str(ports[svc_renamer]) and same2["host"] == hosts[svc_renamer],
                  f"{p.name}: 'Same (2)' should be port {ports[svc_renamer]} on {hosts[svc_renamer]}: {same2}")
            keeper = 1 - svc_renamer
            check(same["port"] == str(ports[keeper]) and same["host"] == hosts[keeper],
                  f"{p.name}: 'Same' should be port {ports[keeper]} on {hosts[keeper]}: {same}")
        ps[svc_renamer].wait_log(r'mdns: established host=\S+ services="Same \(2\)"', timeout=5)
        for p in ps:
            p.stop()


if __name__ == "__main__":
    main(run, "two porticos with the same host and service names: one renames each")
