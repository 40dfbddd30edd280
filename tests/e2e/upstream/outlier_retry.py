#!/usr/bin/env python3
"""Passive health and retries, three HTTP origins (one worker), one of which
answers every request with 500: with `retries: { on: ["5xx"] }` every GET
gets a 200 (the 500 is retried on another endpoint, never the same one
twice), the failing origin is ejected after `consecutive_failures` 5xx and
gets nothing during the ejection, then is tried again when it ends (and
ejected again, for longer). A POST answered 500 is not retried (not
idempotent: the client sees the 500). A route without retries passes the
500 through."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

FAILURES = 3
EJECTION = 1.5


class FailingOrigin(HttpOrigin):
    def respond(self, conn, r, req):
        self.simple(conn, req, 500, b"broken\n", ctype="text/plain")
        return True


def run(t: TestContext) -> None:
    good = [t.add(HttpOrigin(name=f"good{i}")) for i in range(2)]
    bad = t.add(FailingOrigin(name="bad"))
    port = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path_prefix: "/plain/" }}, cluster: plain }}
      - {{ cluster: c, retries: {{ attempts: 2, on: ["5xx"] }} }}''',
        clusters=f'''  - name: c
    lb: round_robin
    endpoints: [ "{good[0].endpoint}", "{good[1].endpoint}", "{bad.endpoint}" ]
    outlier: {{ consecutive_failures: {FAILURES}, base_ejection: {int(EJECTION * 1000)}ms, max_ejection_percent: 50 }}
  - name: plain
    endpoints: [ "{bad.endpoint}" ]''')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/plain/x")
        check(r.status == 500, f"route without retries: {r.status}, expected the origin's 500")
        r = c.request("POST", "/post/x", body=b"once")
        # round robin may or may not land on the bad origin: repeat until it does
        posts = 1
        while r.status == 200 and posts < 6:
            r = c.request("POST", f"/post/{posts}", body=b"once")
            posts += 1
        check(r.status == 500, f"a POST answered 500 was retried (got {r.status})")
    bad_before = len([q for q in bad.reqs() if q.path.startswith("/s/")])
    off = p.log_offset()
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(30):
            r = c.request("GET", f"/s/{i}")
            check(r.status == 200, f"GET /s/{i}: {r.status}, expected 200 (500 retried elsewhere)")
    m = p.wait_log(r"cluster=c endpoint=\S+ ejected=(\d+)ms", timeout=5, start=off, what="an ejection")
    check(str(bad.port) in m.group(0), f"ejected the wrong endpoint: {m.group(0)}")
    t_eject = time.monotonic()
    n_bad = len([q for q in bad.reqs() if q.path.startswith("/s/")]) - bad_before
    log(f"bad origin got {n_bad} of the GETs before/at ejection; {m.group(0)}")
    check(n_bad <= FAILURES + 1, f"the failing origin got {n_bad} GETs, ejection after {FAILURES} expected")
    # never the same endpoint twice for one request
    for x in good + [bad]:
        paths = [q.path for q in x.reqs() if q.path.startswith("/s/")]
        check(len(paths) == len(set(paths)), f"{x.name} got one request twice: {sorted(paths)}")
    # during the ejection: nothing reaches it
    n0 = len(bad.reqs())
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(10):
            check(c.request("GET", f"/e/{i}").status == 200, "GET during ejection")
    if time.monotonic() - t_eject < EJECTION:
        check(len(bad.reqs()) == n0, "the ejected origin got traffic during its ejection")
    # after it: tried again, ejected again for longer
    time.sleep(max(0.0, EJECTION - (time.monotonic() - t_eject)) + 0.2)
    off = p.log_offset()
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(15):
            check(c.request("GET", f"/after/{i}").status == 200, "GET after the ejection")
    check(len(bad.reqs()) > n0, "the origin was not tried again after its ejection ended")
    m2 = p.wait_log(r"cluster=c endpoint=\S+ ejected=(\d+)ms", timeout=5, start=off, what="a second ejection")
    log(f"second ejection: {m2.group(0)}")
    check(int(m2.group(1)) > int(m.group(1)), "the second ejection is not longer than the first")


if __name__ == "__main__":
    main(run, __doc__)
