#!/usr/bin/env python3
"""Circuit breaking: with `max_connections: 1` per endpoint, while a request
holds the only endpoint's connection (the origin hangs), a second request is
answered 503 at once; when the first ends, requests pass again. In an L4 TCP
cluster with `max_connections: 1`, a second client connection is closed at
once while the first is open."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, check, connect, echo_roundtrip,  # noqa: E402
                             log, main, wait_closed)
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    echo = t.add(TcpEchoServer(name="echo"))
    port = t.port()
    tport = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ cluster: one, timeout: 1500ms }}
  - name: tcp
    bind: "127.0.0.1:{tport}"
    protocol: tcp
    cluster: tcp1''',
        clusters=f'''  - {{ name: one, endpoints: [ "{origin.endpoint}" ], max_connections: 1 }}
  - {{ name: tcp1, endpoints: [ "{echo.endpoint}" ], max_connections: 1 }}''')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port), ListenerSpec("127.0.0.1", tport)])

    holder = HttpClient(("127.0.0.1", port), timeout=5)
    holder.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while not origin.reqs("/hang") and time.monotonic() < deadline:
        time.sleep(0.02)
    check(len(origin.reqs("/hang")) == 1, "the hanging request did not reach the origin")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        t0 = time.monotonic()
        r = c.request("GET", "/second")
        dt = time.monotonic() - t0
        log(f"second request: {r.status} after {dt:.3f}s")
        check(r.status == 503, f"over max_connections: {r.status}, expected 503")
        check(dt < 0.5, f"the 503 took {dt:.2f}s")
    check(not origin.reqs("/second"), "the request over the limit reached the origin")
    r = holder.response()
    check(r is not None and r.status == 504, f"the hanging request: {r and r.status}, expected 504 at the route timeout")
    holder.close()
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        check(c.request("GET", "/third").status == 200, "request after the slot was freed")

    a = connect(("127.0.0.1", tport))
    echo_roundtrip(a, b"hello")
    b = connect(("127.0.0.1", tport))
    how, dt = wait_closed(b, 2, "second tcp connection over max_connections")
    log(f"second tcp connection: {how} after {dt:.3f}s")
    echo_roundtrip(a, b"still")
    a.close()
    time.sleep(0.2)
    c = connect(("127.0.0.1", tport))
    echo_roundtrip(c, b"again")
    c.close()


if __name__ == "__main__":
    main(run, __doc__)
