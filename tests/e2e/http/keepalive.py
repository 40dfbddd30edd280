#!/usr/bin/env python3
"""Keep-alive on both sides: many requests over one client connection use one
upstream connection (the origin counts its TCP connections), later client
connections reuse the pooled upstream connection, and Connection: close from
the client ends the client connection after the response; idle client and
pooled upstream connections are closed at their idle timeouts."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, main, wait_closed  # noqa: E402
from http_origin import HttpClient, HttpOrigin, curl, http_config  # noqa: E402

N = 30


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        workers=1,  # the pool is per worker
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, '
                  f'routes: [ {{ cluster: app }} ], timeouts: {{ idle: 2s }} }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ], pool: {{ max_idle: 4, idle_timeout: 1500ms }} }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port)) as c:
        for i in range(N):
            body = f"body {i}".encode() if i % 3 == 0 else None
            r = c.request("POST" if body else "GET", f"/echo?i={i}", body=body)
            check(r.status == 200, f"request {i}: status {r.status}")
            info = r.json()
            check(info["target"] == f"/echo?i={i}", f"request {i}: origin saw {info['target']}")
            check(r.header("Connection") is None or "close" not in r.header("Connection").lower(),
                  f"request {i}: portico said Connection: {r.header('Connection')}")
    check(len(origin.reqs()) == N, f"origin saw {len(origin.reqs())} requests, expected {N}")
    check(origin.accepted == 1, f"{N} requests over one client connection used {origin.accepted} "
                                f"upstream connections (expected 1)")
    # Later client connections (one after another) reuse the pooled connection.
    for k in range(5):
        with HttpClient(("127.0.0.1", port)) as c:
            for i in range(2):
                r = c.request("GET", f"/again?k={k}&i={i}")
                check(r.status == 200, f"client {k} request {i}: {r.status}")
    check(origin.accepted == 1, f"sequential client connections used {origin.accepted} upstream "
                                f"connections (expected the pooled one)")
    # curl with several URLs reuses its connection too.
    st, _, _ = curl([f"http://127.0.0.1:{port}/c1", f"http://127.0.0.1:{port}/c2"])
    check(st == 200, f"curl: {st}")
    check(origin.accepted == 1, f"curl requests used {origin.accepted} upstream connections")
    # Connection: close ends the client connection after the response.
    with HttpClient(("127.0.0.1", port)) as c:
        r = c.request("GET", "/bye", headers=[("Connection", "close")])
        check(r.status == 200, f"close request: {r.status}")
        check("close" in (r.header("Connection") or "").lower(),
              f"response to Connection: close lacks Connection: close ({r.header('Connection')})")
        check(c.closed(3), "portico kept the connection open after Connection: close")
    # HTTP/1.0 without keep-alive: the response ends the connection.
    with HttpClient(("127.0.0.1", port)) as c:
        c.send(b"GET /ten HTTP/1.0\r\nHost: x\r\n\r\n")
        r = c.response()
        check(r is not None and r.status == 200, f"HTTP/1.0: {r}")
        check(c.closed(3), "portico kept an HTTP/1.0 connection open")
    check(origin.accepted == 1, f"upstream connections: {origin.accepted} (expected 1 throughout)")
    # Idle timeouts: the client connection (timeouts.idle 2s) and the pooled
    # upstream connection (pool.idle_timeout 1.5s) are closed by portico.
    with HttpClient(("127.0.0.1", port)) as c:
        r = c.request("GET", "/last")
        check(r.status == 200, f"last: {r.status}")
        t0 = time.monotonic()
        kind, dt = wait_closed(c.sock, 5, "idle client connection")
        check(1.9 <= dt <= 3.0, f"idle client connection closed after {dt:.2f}s, expected 2s")
    origin.wait_for(lambda s: s.active == 0, 3, "the pooled upstream connection to reach its idle timeout")
    check(time.monotonic() - t0 < 3.5, "pooled connection closed late")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
