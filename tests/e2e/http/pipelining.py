#!/usr/bin/env python3
"""Pipelining: 10 requests written at once (proxied GETs and POSTs with bodies,
a HEAD, a local response) get 10 responses in request order on the same
connection, over one upstream connection; so do 10 pipelined requests with
bodies up to 630 KB and 300 KB responses (intact, in order)."""
import os
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
      - {{ cluster: app }}''',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
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


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
