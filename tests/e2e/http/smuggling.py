#!/usr/bin/env python3
"""Request smuggling vectors are refused: each gets its error status (400, or
501 for an unknown transfer coding), Connection: close, and the connection is
closed; nothing reaches the origin (not the request, not a request hidden in
its body). A clean request on the same listener is proxied (control)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

# name, raw request, allowed statuses
VECTORS = [
    ("CL and TE", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\n" + SMUGGLED, {400}),
    ("TE and CL", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
                  b"0\r\n\r\n" + SMUGGLED, {400}),
    ("differing duplicate CL", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n"
                               + SMUGGLED, {400}),
    ("CL list", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 37\r\n\r\n" + SMUGGLED, {400}),
    ("CL with sign", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +37\r\n\r\n" + SMUGGLED, {400}),
    ("TE gzip", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + SMUGGLED, {501, 400}),
    ("TE gzip, chunked", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", {501, 400}),
    ("TE chunked, gzip", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", {400, 501}),
    ("TE chunked twice", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"0\r\n\r\n", {400, 501}),
    ("TE xchunked", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", {501, 400}),
    ("TE in HTTP/1.0", b"POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}),
    ("bad chunk size", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", {400}),
    ("negative chunk size", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", {400}),
    ("chunk size overflow", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"10000000000000005\r\nhello\r\n0\r\n\r\n", {400, 413}),
    ("chunk without CRLF", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", {400}),
    ("obs-fold", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", {400}),
    ("obs-fold tab", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", {400}),
    ("space before colon", b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", {400}),
    ("tab before colon", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n", {400}),
    ("NUL in value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", {400}),
    ("CTL in value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", {400}),
    ("space in name", b"GET /a HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n", {400}),
    ("non-token name", b"GET /a HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", {400}),
    ("empty name", b"GET /a HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n", {400}),
    ("bare CR in value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", {400}),
    ("bare CR line end", b"GET /a HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", {400}),
    ("bare LF line end", b"GET /a HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", {400}),
    ("bare LF head end", b"GET /a HTTP/1.1\nHost: x\n\n", {400}),
    ("no Host", b"GET /a HTTP/1.1\r\nX-A: 1\r\n\r\n", {400}),
    ("two Hosts", b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", {400}),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("fragment in target", b"GET /a#/../admin HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("bad version", b"GET /a HTTP/1.x\r\nHost: x\r\n\r\n", {400, 505}),
]


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ] }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    failures = []
    for name, raw, allowed in VECTORS:
        with HttpClient(("127.0.0.1", port), timeout=3) as c:
            c.send(raw)
            try:
                r = c.response()
            except Exception as e:  # noqa: BLE001 - record and go on
                failures.append(f"{name}: no parsable response ({e})")
                continue
            if r is None:
                failures.append(f"{name}: closed without a response")
                continue
            if r.status not in allowed:
                failures.append(f"{name}: status {r.status}, expected {sorted(allowed)}")
            if "close" not in (r.header("Connection") or "").lower():
                failures.append(f"{name}: no Connection: close on the {r.status}")
            if not c.closed(2):
                failures.append(f"{name}: connection not closed after the {r.status}")
            log(f"{name}: {r.status}")
    seen = [r.target for r in origin.reqs()]
    check(not seen, f"refused requests reached the origin: {seen}")
    check(not failures, "smuggling vectors not refused as expected:\n  " + "\n  ".join(failures))
    with HttpClient(("127.0.0.1", port), timeout=3) as c:  # control
        r = c.request("POST", "/ok", body=b"hello")
        check(r.status == 200 and r.json()["body_len"] == 5, f"control request: {r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
