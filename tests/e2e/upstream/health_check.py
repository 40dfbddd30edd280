#!/usr/bin/env python3
"""Active health checks with retries, three HTTP origins, two workers: all
three are up and share the traffic; one is stopped: the http health check
marks it down within (interval + jitter) x fall (+ timeout and a margin), and
a steady stream of GETs sees no error at all: connect failures to it before
that happened (the admin endpoint's connect_failures counter moved) and were
retried on another endpoint; once it is down no request is even tried on it
(its requests and connect_failures stop moving) while the others' grow. Restarted on the same
port, it is marked up after `rise` checks and gets traffic again. An origin
that serves but fails its check (503 on /healthz) is marked down with that
reason and gets none of 20 requests. A cluster
whose every endpoint is down answers 503 at once; with `panic: true` it
tries them anyway (refused: 502)."""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

INTERVAL = 0.3
FALL = 2
RISE = 2
TIMEOUT = 0.2
JITTER = 0.03  # health_check.jitter as a duration
MARGIN = 1.0


def endpoint_stats(admin_port: int, cluster: str) -> dict:
    """{address: endpoint object} of one cluster from the admin /clusters JSON."""
    with socket.create_connection(("127.0.0.1", admin_port), timeout=5) as s:
        s.sendall(b"GET /clusters HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), f"/clusters: {head[:40]!r}")
    for c in json.loads(body)["clusters"]:
        if c["name"] == cluster:
            return {e["address"]: e for e in c["endpoints"]}
    check(False, f"cluster {cluster} not in /clusters")
    return {}


class SickOrigin(HttpOrigin):
    """Serves requests but fails its health check (/healthz answers 503)."""

    def respond(self, conn, r, req):
        if req.path == "/healthz":
            self.simple(conn, req, 503, b"sick\n", ctype="text/plain")
            return True
        return super().respond(conn, r, req)


def run(t: TestContext) -> None:
    o = [t.add(HttpOrigin(name=f"o{i}")) for i in range(3)]
    dead = [t.add(HttpOrigin(name=f"dead{i}")) for i in range(2)]
    well = t.add(HttpOrigin(name="well"))
    sick = t.add(SickOrigin(name="sick"))
    port, aport = t.port(), t.port()
    hc = (f"health_check: {{ type: http, path: /healthz, expect: [200], interval: {int(INTERVAL * 1000)}ms, "
          f"timeout: {int(TIMEOUT * 1000)}ms, rise: {RISE}, fall: {FALL}, jitter: {int(JITTER * 1000)}ms }}")
    cfg = http_config(
        workers=2,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path_prefix: "/dead/" }}, cluster: dead }}
      - {{ match: {{ path_prefix: "/panic/" }}, cluster: panic }}
      - {{ match: {{ path_prefix: "/sick/" }}, cluster: sick }}
      - {{ cluster: three, retries: {{ attempts: 2, on: [connect_failure, reset] }} }}''',
        clusters=f'''  - name: three
    endpoints: [ "{o[0].endpoint}", "{o[1].endpoint}", "{o[2].endpoint}" ]
    {hc}
  - name: dead
    endpoints: [ "{dead[0].endpoint}", "{dead[1].endpoint}" ]
    {hc}
  - name: sick
    endpoints: [ "{well.endpoint}", "{sick.endpoint}" ]
    {hc}
  - name: panic
    panic: true
    endpoints: [ "{dead[0].endpoint}", "{dead[1].endpoint}" ]
    {hc}''').replace("admin: { bind: null }", f'admin: {{ bind: "127.0.0.1:{aport}" }}')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    stop = threading.Event()
    errors: list[str] = []
    done = [0]

    def stream() -> None:
        i = 0
        while not stop.is_set():
            try:
                with HttpClient(("127.0.0.1", port), timeout=5) as c:
                    for _ in range(20):
                        r = c.request("GET", f"/s/{i}")
                        i += 1
                        done[0] += 1
                        if r.status != 200:
                            errors.append(f"/s/{i}: {r.status}")
                        time.sleep(0.005)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        time.sleep(1.0)
        for x in o:
            check(len(x.reqs()) > 0, f"{x.name} got no traffic while all were up")
        # stop one origin: marked down in time, no client errors
        victim_port = o[1].port
        off = p.log_offset()
        t0 = time.monotonic()
        o[1].stop()
        m = p.wait_log(rf"cluster=three endpoint=127\.0\.0\.1:{victim_port} health=down", timeout=10, start=off,
                       what="the stopped origin marked down")
        dt = time.monotonic() - t0
        limit = (INTERVAL + JITTER) * FALL + TIMEOUT + MARGIN
        log(f"marked down after {dt:.2f}s (limit {limit:.2f}s): {m.group(0)}")
        check(dt <= limit, f"marked down after {dt:.2f}s, expected within {limit:.2f}s")
        victim = f"127.0.0.1:{victim_port}"
        time.sleep(0.2)  # requests that picked it just before the mark finish
        before = endpoint_stats(aport, "three")
        log(f"victim at mark-down: {before[victim]}")
        check(before[victim]["health"] == "down" and not before[victim]["available"],
              f"/clusters does not show the stopped origin down: {before[victim]}")
        check(before[victim]["connect_failures"] > 0,
              "no request hit the stopped origin before it was marked down: the no-error check proves nothing")
        n_other = [len(o[0].reqs()), len(o[2].reqs())]
        time.sleep(1.0)
        after = endpoint_stats(aport, "three")
        check(len(o[0].reqs()) > n_other[0] and len(o[2].reqs()) > n_other[1], "traffic did not move to the others")
        for k in ("requests", "connect_failures"):
            check(after[victim][k] == before[victim][k],
                  f"the endpoint marked down was still tried: {k} {before[victim][k]} -> {after[victim][k]}")
        # restart on the same port: back up after rise checks
        off = p.log_offset()
        t0 = time.monotonic()
        back = t.add(HttpOrigin(name="o1-again", port=victim_port))
        p.wait_log(rf"cluster=three endpoint=127\.0\.0\.1:{victim_port} health=up", timeout=10, start=off,
                   what="the restarted origin marked up")
        dt = time.monotonic() - t0
        limit = (INTERVAL + JITTER) * (RISE + 1) + MARGIN
        log(f"marked up after {dt:.2f}s (limit {limit:.2f}s)")
        check(dt <= limit, f"marked up after {dt:.2f}s, expected within {limit:.2f}s")
        time.sleep(1.0)
        got = [q for q in back.reqs() if q.path.startswith("/s/")]
        check(len(got) > 0, "the restarted origin gets no traffic")
    finally:
        stop.set()
        for th in threads:
            th.join(10)
    log(f"{done[0]} requests, errors: {errors[:5]}")
    check(not errors, f"client errors while an origin went away and came back: {errors[:5]}")
    check(done[0] > 100, f"only {done[0]} requests made")

    # an endpoint whose check fails (503 on /healthz) but that would serve: no traffic
    p.wait_log(rf"cluster=sick endpoint=127\.0\.0\.1:{sick.port} health=down reason=\"status 503 not expected\"",
               timeout=10, what="the sick origin marked down")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(20):
            check(c.request("GET", f"/sick/{i}").status == 200, "GET to the cluster with a sick endpoint")
    got = len([q for q in sick.reqs() if q.path.startswith("/sick/")])
    check(got == 0, f"the endpoint marked down got {got} of 20 requests")
    check(len([q for q in well.reqs() if q.path.startswith("/sick/")]) == 20, "the healthy endpoint missed requests")

    # every endpoint down: 503 at once; panic spreads anyway
    for d in dead:
        d.stop()
    for d in dead:
        p.wait_log(rf"cluster=dead endpoint=127\.0\.0\.1:{d.port} health=down", timeout=10, what="dead endpoints down")
        p.wait_log(rf"cluster=panic endpoint=127\.0\.0\.1:{d.port} health=down", timeout=10, what="panic endpoints down")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        t0 = time.monotonic()
        r = c.request("GET", "/dead/x")
        check(r.status == 503, f"all endpoints down: {r.status}, expected 503")
        check(time.monotonic() - t0 < 0.5, "the 503 was not immediate")
    # panic: true spreads over the down endpoints: the attempt is made (and
    # refused: 502), where the same cluster without panic answers 503.
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/panic/x")
        check(r.status == 502, f"panic cluster with every endpoint down: {r.status}, expected 502 (tried)")

if __name__ == "__main__":
    main(run, __doc__)
