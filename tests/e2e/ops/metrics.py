#!/usr/bin/env python3
"""Metrics move as traffic flows: each request counted once, on the route it
matched (or _unmatched) and its status class; latency histogram counts agree;
listener connections and bytes, upstream requests and connect failures, TCP
relay sessions and bytes, UDP sessions, refusals and bytes; summed over two workers. The exposition is validated
by a strict parser (HELP/TYPE, label syntax, cumulative buckets, _count)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import metric, ops_config, scrape  # noqa: E402
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, UdpEchoServer, check, connect,  # noqa: E402
                             echo_roundtrip, main, udp_roundtrip)
import socket  # noqa: E402
from http_origin import HttpOrigin, curl  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    echo = t.add(TcpEchoServer())
    uecho = t.add(UdpEchoServer("ipv4", name="udp-echo"))
    web, tcp, ap, pu = t.port(), t.port(), t.port(), t.port("udp")
    cfg = ops_config(ap, listeners=f"""
  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    routes:
      - {{ name: ok, match: {{ path: "/ok" }}, respond: {{ status: 200, body: "ok\\n" }} }}
      - {{ name: app, match: {{ path_prefix: "/app/" }}, cluster: app, rewrite: {{ path_prefix: "/" }} }}
      - {{ name: dead, match: {{ path_prefix: "/dead" }}, cluster: dead }}
      - {{ match: {{ path: "/moved" }}, redirect: {{ status: 301, location: "/ok" }} }}
  - {{ name: relay, bind: "127.0.0.1:{tcp}", protocol: tcp, cluster: echo }}
  - {{ name: dgram, bind: "127.0.0.1:{pu}", protocol: udp, cluster: uecho, limits: {{ udp_sessions: 2 }} }}
""", clusters=f"""
  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}
  - {{ name: dead, endpoints: [ "127.0.0.1:1" ] }}
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: uecho, endpoints: [ "{uecho.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", web), ListenerSpec("127.0.0.1", ap)])

    s0 = scrape(ap)
    for route in ("ok", "app", "dead", "3", "_unmatched"):
        for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
            check(metric(s0, "portico_http_requests_total", listener="web", route=route, **{"class": cls}) == 0,
                  f"{route} {cls} not zero at start")
    check(metric(s0, "portico_listener_connections_accepted_total", listener="web") == 0, "no connection yet")

    base = f"http://127.0.0.1:{web}"
    plan = [("/ok", 200)] * 3 + [("/app/hello", 200)] * 2 + [("/app/status/503", 503)] + \
        [("/dead", 502)] * 2 + [("/nothing-here", 404)] + [("/moved", 301)]
    for path, want in plan:
        st, _, _ = curl([base + path])
        check(st == want, f"GET {path}: {st}, expected {want}")
    for i in range(2):
        s = connect(("127.0.0.1", tcp))
        echo_roundtrip(s, b"x" * 1000)
        s.close()

    # Counters are updated before the response is written, bytes and gauges just after: poll briefly.
    deadline = time.monotonic() + 5
    while True:
        s1 = scrape(ap)
        settled = (metric(s1, "portico_listener_connections_active", listener="web") == 0 and
                   metric(s1, "portico_listener_connections_active", listener="relay") == 0 and
                   metric(s1, "portico_listener_received_bytes_total", listener="relay") == 2000 and
                   metric(s1, "portico_listener_sent_bytes_total", listener="relay") == 2000)
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    def req(route: str, cls: str) -> float:
        return metric(s1, "portico_http_requests_total", listener="web", route=route, **{"class": cls})

    want = {("ok", "2xx"): 3, ("app", "2xx"): 2, ("app", "5xx"): 1, ("dead", "5xx"): 2,
            ("_unmatched", "4xx"): 1, ("3", "3xx"): 1}
    for route in ("ok", "app", "dead", "3", "_unmatched"):
        for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
            got = req(route, cls)
            check(got == want.get((route, cls), 0), f"route {route} class {cls}: {got}, expected "
                                                    f"{want.get((route, cls), 0)}")
        n = sum(want.get((route, c), 0) for c in ("2xx", "3xx", "4xx", "5xx"))
        check(metric(s1, "portico_http_request_duration_seconds_count", listener="web", route=route) == n,
              f"histogram count of {route}")
        check(metric(s1, "portico_http_request_duration_seconds_bucket", listener="web", route=route,
                     le="+Inf") == n, f"+Inf bucket of {route}")
    check(metric(s1, "portico_listener_connections_accepted_total", listener="web") == len(plan),
          "one accepted connection per curl")
    check(metric(s1, "portico_listener_connections_active", listener="web") == 0, "web: no active connection")
    check(metric(s1, "portico_listener_received_bytes_total", listener="web") > 0, "web bytes in")
    check(metric(s1, "portico_listener_sent_bytes_total", listener="web") > 0, "web bytes out")
    check(metric(s1, "portico_upstream_requests_total", cluster="app", endpoint=origin.endpoint) == 3,
          "app endpoint requests")
    check(metric(s1, "portico_upstream_connect_failures_total", cluster="app", endpoint=origin.endpoint) == 0,
          "app endpoint connect failures")
    check(metric(s1, "portico_upstream_requests_total", cluster="dead", endpoint="127.0.0.1:1") == 2,
          "dead endpoint requests")
    check(metric(s1, "portico_upstream_connect_failures_total", cluster="dead", endpoint="127.0.0.1:1") == 2,
          "dead endpoint connect failures")
    check(metric(s1, "portico_upstream_active", cluster="app", endpoint=origin.endpoint) == 0, "app active")
    check(metric(s1, "portico_listener_connections_accepted_total", listener="relay") == 2, "relay sessions")
    check(metric(s1, "portico_listener_received_bytes_total", listener="relay") == 2000, "relay bytes in")
    check(metric(s1, "portico_listener_sent_bytes_total", listener="relay") == 2000, "relay bytes out")
    check(metric(s1, "portico_upstream_requests_total", cluster="echo", endpoint=echo.endpoint) == 2,
          "echo endpoint sessions")

    # A held session shows in the gauges.
    s = connect(("127.0.0.1", tcp))
    echo_roundtrip(s, b"held")
    s2 = scrape(ap)
    check(metric(s2, "portico_listener_connections_active", listener="relay") == 1, "one active relay session")
    check(metric(s2, "portico_upstream_active", cluster="echo", endpoint=echo.endpoint) == 1, "echo active")
    s.close()

    # UDP: sessions count as connections; a datagram over udp_sessions (a bound
    # shared by the workers) as refused.
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    answered = 0
    for i, c in enumerate(clients):
        c.bind(("127.0.0.1", 0))
        c.settimeout(1)
        try:
            answered += udp_roundtrip(c, ("127.0.0.1", pu), b"u" * (10 + i), timeout=1) == b"u" * (10 + i)
        except Exception:  # the third is over the limit: no reply
            pass
    s3 = scrape(ap)
    for c in clients:
        c.close()
    check(answered == 2, f"{answered} UDP clients answered with udp_sessions 2")
    check(metric(s3, "portico_listener_connections_accepted_total", listener="dgram") == 2, "UDP sessions accepted")
    check(metric(s3, "portico_listener_connections_active", listener="dgram") == 2, "UDP sessions active")
    check(metric(s3, "portico_listener_connections_refused_total", listener="dgram") == 1, "UDP datagram refused")
    check(metric(s3, "portico_listener_received_bytes_total", listener="dgram") == 21, "UDP bytes in")
    check(metric(s3, "portico_listener_sent_bytes_total", listener="dgram") == 21, "UDP bytes out")


if __name__ == "__main__":
    main(run, __doc__)
