#!/usr/bin/env python3
"""Upstream failures: a refused connection is a 502 at once; a backend that
never answers is a 504 at the route's timeout, or at the cluster's
response_timeout without one; a connect that hangs is a 504 at the cluster's
connect_timeout; a backend that closes without answering, or answers
garbage, is a 502. Each error response closes the client connection."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, NeverAcceptsListener, TestContext, check, free_port, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

MARGIN = 0.7


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    blackhole = t.add(NeverAcceptsListener())
    dead = free_port()  # nothing listens: connect is refused
    port = t.port()
    cfg = http_config(
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    timeouts: {{ idle: 20s }}
    routes:
      - {{ match: {{ path_prefix: "/down/" }}, cluster: down }}
      - {{ match: {{ path_prefix: "/blackhole/" }}, cluster: blackhole }}
      - {{ match: {{ path_prefix: "/rt/" }}, cluster: slow, timeout: 700ms }}
      - {{ cluster: slow }}''',
        clusters=f'''  - {{ name: down, endpoints: [ "127.0.0.1:{dead}" ] }}
  - {{ name: blackhole, endpoints: [ "{blackhole.endpoint}" ], connect_timeout: 600ms }}
  - {{ name: slow, endpoints: [ "{origin.endpoint}" ], response_timeout: 1500ms }}''')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    def timed(path: str, want: int, low: float, high: float) -> None:
        with HttpClient(("127.0.0.1", port), timeout=10) as c:
            t0 = time.monotonic()
            r = c.request("GET", path)
            dt = time.monotonic() - t0
            log(f"{path}: {r.status} after {dt:.2f}s")
            check(r.status == want, f"{path}: status {r.status}, expected {want}")
            check(low <= dt <= high, f"{path}: {want} after {dt:.2f}s, expected within [{low}, {high}]s")
            check(c.closed(2), f"{path}: connection open after the {r.status}")

    timed("/down/x", 502, 0, 0.5)
    timed("/rt/hang", 504, 0.7, 0.7 + MARGIN)          # route timeout
    timed("/hang", 504, 1.5, 1.5 + MARGIN)             # cluster response_timeout
    timed("/blackhole/x", 504, 0.6, 0.6 + MARGIN)      # cluster connect_timeout
    timed("/close", 502, 0, 0.5)
    timed("/garbage", 502, 0, 0.5)
    check(origin.hanging == 2, f"origin saw {origin.hanging} hanging requests, expected 2")
    origin.wait_for(lambda s: s.active == 0, 3, "portico to close the timed-out upstream connections")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:  # the cluster still works
        r = c.request("GET", "/fine")
        check(r.status == 200, f"request after the failures: {r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
