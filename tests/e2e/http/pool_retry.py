#!/usr/bin/env python3
"""Stale pooled connections: an origin that closes each keep-alive connection
right after its response (without Connection: close) never makes a client
see an error; and an origin that takes the next request on a reused
connection and closes it without answering (the close raced the request) has
that GET retried once, transparently, on a fresh connection; a POST whose
body was sent is not replayed (502)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

N = 8


def run(t: TestContext) -> None:
    closer = t.add(HttpOrigin(name="closer", close_after_each=True))
    dropper = t.add(HttpOrigin(name="dropper", drop_reused=True))
    port = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path_prefix: "/closer/" }}, cluster: closer }}
      - {{ cluster: dropper }}''',
        clusters=f'''  - {{ name: closer, endpoints: [ "{closer.endpoint}" ] }}
  - {{ name: dropper, endpoints: [ "{dropper.endpoint}" ] }}''')
    t.start_portico(cfg.replace("level: info", "level: " + os.environ.get("LOGLEVEL", "info")), [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(N):
            r = c.request("GET", f"/closer/{i}")
            check(r.status == 200, f"closer request {i}: {r.status}")
            if i % 2:
                time.sleep(0.05)  # sometimes the close is seen while idle, sometimes not
    check(len(closer.reqs()) == N, f"closer origin saw {len(closer.reqs())} requests")
    check(closer.accepted == N, f"closer: {closer.accepted} connections for {N} requests")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(N):
            r = c.request("GET", f"/drop/{i}")
            check(r.status == 200, f"GET {i} on a connection the origin drops when reused: {r.status}")
            check(r.json()["target"] == f"/drop/{i}", f"GET {i}: answer for {r.json()['target']}")
    check(dropper.dropped >= N - 1, f"the dropping origin dropped {dropper.dropped} reused connections; "
                                    f"the test did not exercise the retry")
    seen = [q.target for q in dropper.reqs()]
    for i in range(N):
        check(seen.count(f"/drop/{i}") in (1, 2), f"/drop/{i} sent {seen.count(f'/drop/{i}')} times")
    # A POST with a body that reached the origin is never replayed: 502.
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/drop/first")  # leaves a pooled connection the origin will drop
        check(r.status == 200, f"GET before the POST: {r.status}")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("POST", "/drop/post", body=b"pay once")
        check(r.status == 502, f"POST on a dropped pooled connection: {r.status}, expected 502 (not replayed)")
    posts = [q for q in dropper.reqs() if q.target == "/drop/post"]
    check(len(posts) == 1, f"the POST reached the origin {len(posts)} times")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
