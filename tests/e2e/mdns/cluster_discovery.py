#!/usr/bin/env python3
"""`discovery: { mdns: _http._tcp }`: two porticos in two network namespaces.
alpha publishes "Alpha web" (_http._tcp, port 8080) and serves HTTP on that
port; beta browses _http._tcp and proxies its listener to a cluster discovered
by mDNS: it logs the endpoints (alpha's IPv4 and IPv6 link-local addresses)
and a request through beta reaches alpha; beta's admin endpoint lists the
instance (/clusters: port, priority, weight, addresses, TXT; /metrics:
portico_mdns_instances). When alpha stops (goodbye), the
instance leaves beta's cluster, which then answers 503."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import NetnsPair, NsPortico, TestContext, check, mdns_config, log  # noqa: E402
from portico_harness import main  # noqa: E402


def curl_in(pair: NetnsPair, i: int, url: str) -> tuple[int, str]:
    r = pair.run(i, ["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", url], check_rc=False)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def run(t: TestContext) -> None:
    with NetnsPair() as pair:
        a = NsPortico(t, pair, 0, mdns_config(
            "alpha", services='[ { name: "Alpha web", type: _http._tcp, port: 8080, priority: 3, weight: 7,'
                      ' txt: { path: "/api", v: "2" } } ]', browse="[]",
            extra='''listeners:
  - name: web
    bind: "0.0.0.0:8080"
    protocol: http
    routes:
      - { respond: { status: 200, body: "from alpha" } }
  - name: web6
    bind: "[::]:8080"
    protocol: http
    routes:
      - { respond: { status: 200, body: "from alpha" } }
'''), name="alpha")
        b = NsPortico(t, pair, 1, mdns_config(
            "beta", admin='"127.0.0.1:9901"', extra='''listeners:
  - name: front
    bind: "127.0.0.1:9000"
    protocol: http
    routes:
      - { cluster: found, retries: { attempts: 1, on: [connect_failure] } }
clusters:
  - { name: found, discovery: { mdns: _http._tcp } }
'''), name="beta")
        a.start()
        b.start()
        a.wait_started(t.backend)
        b.wait_started(t.backend)
        b.wait_added("Alpha web", timeout=10)
        m = b.wait_log(r"cluster=found discovery=mdns endpoints=(\d+)", timeout=5, what="the mdns cluster update")
        log(f"beta: {m.group(0)}")
        check(m.group(1) == "2", f"alpha's two addresses expected as endpoints: {m.group(0)}")
        for i in range(4):  # both endpoints (IPv4 and IPv6 link-local) answer
            code, body = curl_in(pair, 1, f"http://127.0.0.1:9000/x{i}")
            check(code == 200 and body == "from alpha", f"request through beta: {code} {body!r}")
        code, body = curl_in(pair, 1, "http://127.0.0.1:9901/clusters")
        check(code == 200, f"/clusters: {code}")
        found = [i for i in json.loads(body).get("mdns", []) if i.get("instance") == "Alpha web"]
        check(len(found) >= 1, f"/clusters lists no 'Alpha web' instance: {body[:1500]}")
        inst = found[0]
        log(f"beta /clusters mdns: {inst}")
        check(inst["type"] == "_http._tcp" and inst["port"] == 8080 and inst["priority"] == 3
              and inst["weight"] == 7 and not inst["self"], f"instance fields: {inst}")
        check(sorted(inst["txt"]) == ["path=/api", "v=2"], f"instance TXT: {inst['txt']}")
        addrs = {a for i in found for a in i["addresses"]}
        check(any(":" not in a for a in addrs) and any(a.startswith("fe80:") for a in addrs),
              f"alpha's IPv4 and IPv6 link-local addresses expected: {addrs}")
        code, body = curl_in(pair, 1, "http://127.0.0.1:9901/metrics")
        m = re.search(r'^portico_mdns_instances\{type="_http._tcp"\} (\d+)', body, re.M)
        check(code == 200 and m is not None and int(m.group(1)) >= 1,
              f"portico_mdns_instances for _http._tcp: {code} {m and m.group(0)}")
        off = b.log_offset()
        a.stop()
        b.wait_log(r"cluster=found discovery=mdns endpoints=0", timeout=8, start=off, what="the goodbye applied")
        code, body = curl_in(pair, 1, "http://127.0.0.1:9000/gone")
        check(code == 503, f"no instance left: {code}, expected 503")
        code, body = curl_in(pair, 1, "http://127.0.0.1:9901/clusters")
        left = [i for i in json.loads(body).get("mdns", []) if i.get("instance") == "Alpha web"]
        check(code == 200 and not left, f"/clusters still lists the instance after its goodbye: {left}")
        b.stop()


if __name__ == "__main__":
    main(run, __doc__)
