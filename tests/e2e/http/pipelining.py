#!/usr/bin/env python3
"""Pipelining: 10 requests written at once (proxied GETs and POSTs with bodies,
a HEAD, a local response) get 10 responses in request order on the same
connection, over one upstream connection; so do 10 pipelined requests with
bodies up to 630 KB and 300 KB responses (intact, in order). Local responses
(respond, redirect, HEAD) pipelined in one write, alone and between proxied
ones, with and without the client's half-close right after: all answered in
order, then closed; a request cut by EOF after a complete one: the complete
one answered."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, build_request, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path: "/local" }}, respond: {{ status: 200, body: "local\\n" }} }}
      - {{ match: {{ path: "/moved" }}, redirect: {{ status: 301, location: "https://{{host}}{{path}}" }} }}
      - {{ cluster: app }}''',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    plan = []  # (method, target, body)
    for i in range(10):
        if i == 4:
            plan.append(("GET", "/local", None))
        elif i == 6:
            plan.append(("HEAD", f"/echo?i={i}", None))
        elif i % 3 == 1:
            plan.append(("POST", f"/echo?i={i}", (f"payload-{i}-" * (50 * i + 1)).encode()))
        else:
            plan.append(("GET", f"/echo?i={i}", None))
    wire = b"".join(build_request(m, tg, body=b) for m, tg, b in plan)
    with HttpClient(("127.0.0.1", port)) as c:
        c.send(wire)
        for i, (m, tg, body) in enumerate(plan):
            r = c.response(m)
            check(r is not None, f"connection closed before response {i}")
            check(r.status == 200, f"response {i}: status {r.status}")
            if tg == "/local":
                check(r.body == b"local\n", f"response {i}: expected the local body, got {r.body[:80]!r}")
                continue
            if m == "HEAD":
                check(r.body == b"" and r.header("Content-Length") is not None,
                      f"HEAD response {i}: {r.header('Content-Length')} / {r.body[:40]!r}")
                continue
            info = r.json()
            check(info["target"] == tg, f"response {i} is for {info['target']}, expected {tg} (out of order)")
            check(info["body_len"] == len(body or b""), f"response {i}: origin got {info['body_len']} body bytes")
        # still usable afterwards
        r = c.request("GET", "/echo?after")
        check(r.status == 200 and r.json()["target"] == "/echo?after", "request after the pipeline")
    seen = [r.target for r in origin.reqs()]
    want = [tg for m, tg, _ in plan if tg != "/local"] + ["/echo?after"]
    check(seen == want, f"origin saw {seen}, expected {want}")
    check(origin.accepted == 1, f"pipelined requests used {origin.accepted} upstream connections")
    # 10 pipelined requests with big responses and bodies (back-pressure while
    # later requests wait in portico's input).
    big = [(f"/big?n={300_000 + i}&seed={i}", b"u" * (i * 70_000)) for i in range(10)]
    with HttpClient(("127.0.0.1", port), timeout=10) as c:
        c.send(b"".join(build_request("POST" if b else "GET", tg, body=b or None) for tg, b in big))
        for i, (tg, b) in enumerate(big):
            r = c.response()
            check(r is not None and r.status == 200, f"big pipelined response {i}: {r and r.status}")
            want = Pattern(i).sha256(300_000 + i)
            check(r.body_len == 300_000 + i and r.body_sha == want,
                  f"big pipelined response {i}: {r.body_len} bytes, intact={r.body_sha == want}")
    got = [(q.target, q.body_len) for q in origin.reqs()[-10:]]
    check(got == [(tg, len(b)) for tg, b in big], f"origin saw {got}")

    # Requests answered by portico itself, pipelined in one write: each is
    # answered while the same input buffer still holds the next ones (this
    # crashed the worker once: a nested parse released the buffer under the
    # outer one). With and without the client shutting down its side right
    # after writing: every request read before the EOF gets its response, in
    # order, and then the connection closes.
    local = [("GET", "/local"), ("GET", "/moved"), ("HEAD", "/local"), ("GET", "/local")]
    for half_close in (False, True):
        for proxied in (False, True):
            plan = list(local)
            if proxied:
                plan[1:1] = [("GET", "/echo?p=1")]
                plan[3:3] = [("POST", "/echo?p=2")]
            wire = b"".join(build_request(m, tg, body=b"x" * 10 if m == "POST" else None,
                                          headers=[("Connection", "close")] if i == len(plan) - 1 else [])
                            for i, (m, tg) in enumerate(plan))
            what = f"half_close={half_close} proxied={proxied}"
            with HttpClient(("127.0.0.1", port), timeout=5) as c:
                c.send(wire)
                if half_close:
                    c.sock.shutdown(socket.SHUT_WR)
                for i, (m, tg) in enumerate(plan):
                    r = c.response(m)
                    check(r is not None, f"{what}: closed before response {i} ({m} {tg})")
                    want = 301 if tg == "/moved" else 200
                    check(r.status == want, f"{what}: response {i}: {r.status}, expected {want}")
                    if tg == "/moved":
                        check(r.header("Location") == "https://example.test/moved", f"{what}: {r.header('Location')}")
                    elif tg.startswith("/echo"):
                        check(r.json()["target"] == tg, f"{what}: response {i} is for {r.json()['target']}")
                    elif m == "GET":
                        check(r.body == b"local\n", f"{what}: response {i}: {r.body[:40]!r}")
                check(c.closed(), f"{what}: not closed after the last response")
    # A complete request, then half of one, then EOF: the complete one is
    # answered, the cut one is not, and the connection closes.
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send(build_request("GET", "/local") + b"GET /local HTTP/1.1\r\nHo")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.response()
        check(r is not None and r.status == 200 and r.body == b"local\n", f"before a cut request: {r and r.status}")
        check(c.closed(), "not closed after a request cut by EOF")
    # still serving
    with HttpClient(("127.0.0.1", port)) as c:
        check(c.request("GET", "/local").status == 200, "portico stopped serving")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
