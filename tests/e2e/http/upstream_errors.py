#!/usr/bin/env python3
"""Upstream failures: a refused connection is a 502 at once; a backend that
never answers is a 504 at the route's timeout, or at the cluster's
response_timeout without one; a connect that hangs is a 504 at the cluster's
connect_timeout; a backend that closes without answering, or answers
garbage, or a malformed/ambiguous response (CL+TE, differing CLs, obs-fold,
bare LF, bad chunk, bad status, a transfer coding other than chunked) is a 502. Each error response closes the
client connection."""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, NeverAcceptsListener, TestContext, TestFailure, check, free_port, log, main  # noqa: E402
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
    # malformed or ambiguous responses are 502, never passed on
    bad = {"CL and TE": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "differing CLs": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
           "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
           "bare LF": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
           "bad chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "bad status": b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
           "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
           # would reach the client undecoded and unlabelled once reframed
           "TE gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8bzz",
           "TE gzip, chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n",
           "short body": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}
    for name, raw in bad.items():
        with HttpClient(("127.0.0.1", port), timeout=5) as c:
            target = "/raw?r=" + base64.urlsafe_b64encode(raw).decode()
            if name in ("short body", "bad chunk"):
                # The head went out already (bodies are streamed): the client
                # must see a cut (reset or EOF), never a complete response.
                try:
                    r = c.request("GET", target)
                    raise TestFailure(f"{name}: complete response {r.status} {r.body!r}")
                except (ConnectionResetError, TestFailure) as e:
                    check(isinstance(e, ConnectionResetError) or "EOF" in str(e), f"{name}: {e}")
                continue
            r = c.request("GET", target)
            check(r.status == 502, f"upstream response with {name}: {r.status}, expected 502")
            check(c.closed(2), f"upstream response with {name}: client connection left open")
    check(origin.hanging == 2, f"origin saw {origin.hanging} hanging requests, expected 2")
    origin.wait_for(lambda s: s.active == 0, 3, "portico to close the timed-out upstream connections")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:  # the cluster still works
        r = c.request("GET", "/fine")
        check(r.status == 200, f"request after the failures: {r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
