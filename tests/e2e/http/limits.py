#!/usr/bin/env python3
"""Listener limits: a body over limits.body gets 413 (Content-Length and
chunked), a request line over limits.request_line 414, a head over
limits.header_bytes and more than limits.headers fields 431; each closes the
connection and nothing reaches the origin; requests just inside the limits
are proxied, at the largest limits the config accepts too. A client that goes on sending its over-limit body still reads
the whole 413 (lingering close: no reset destroys the response)."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

BODY = 4096
LINE = 512
HEAD = 2048
FIELDS = 10
MAX_FIELDS = 1000  # the largest limits.headers the config accepts


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    wide = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ], '
                  f'limits: {{ body: {BODY}, request_line: {LINE}, header_bytes: {HEAD}, headers: {FIELDS} }} }}\n'
                  f'  - {{ name: wide, bind: "127.0.0.1:{wide}", protocol: http, routes: [ {{ cluster: app }} ], '
                  f'limits: {{ header_bytes: 1MiB, headers: {MAX_FIELDS} }} }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port), ListenerSpec("127.0.0.1", wide)])

    def chunked(n: int) -> bytes:
        return b"".join(b"100\r\n" + b"c" * 256 + b"\r\n" for _ in range(n // 256)) + b"0\r\n\r\n"

    line_ok = "/" + "a" * (LINE - len("GET  HTTP/1.1") - 2)
    line_big = "/" + "a" * (LINE + 10)
    fields_ok = "".join(f"X-F{i}: v\r\n" for i in range(FIELDS - 1))  # + Host = FIELDS
    fields_big = "".join(f"X-F{i}: v\r\n" for i in range(FIELDS))     # + Host = FIELDS + 1
    cases = [
        ("body CL over", f"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY + 1}\r\n\r\n".encode(), 413),
        ("body chunked over", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY + 256), 413),
        ("request line over", f"GET {line_big} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414),
        ("header bytes over", f"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * HEAD}\r\n\r\n".encode(), 431),
        ("header count over", f"GET /a HTTP/1.1\r\nHost: x\r\n{fields_big}\r\n".encode(), 431),
    ]
    for name, raw, want in cases:
        with HttpClient(("127.0.0.1", port), timeout=3) as c:
            try:
                c.send(raw)
            except (ConnectionResetError, BrokenPipeError):
                pass
            r = c.response()
            check(r is not None, f"{name}: closed without a response")
            check(r.status == want, f"{name}: status {r.status}, expected {want}")
            check("close" in (r.header("Connection") or "").lower(), f"{name}: no Connection: close")
            check(c.closed(2), f"{name}: connection not closed after the {r.status}")
            log(f"{name}: {r.status}")
    # Lingering close: the client streams 512 KiB of a body that is over the
    # limit and only then reads. Without lingering, portico's close with
    # unread input resets the connection and the 413 is lost.
    for attempt in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        big = 512 * 1024
        s.sendall(f"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n".encode())
        sent = [0]

        def pump() -> None:
            try:
                chunk = b"z" * 16384
                while sent[0] < big:
                    s.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                pass

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        th.join(5)
        time.sleep(0.2)
        got = b""
        err = None
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except OSError as e:
            err = e
        s.close()
        check(got.startswith(b"HTTP/1.1 413 "), f"lingering close: client that kept sending got {got[:40]!r} ({err})")
        check(err is None, f"lingering close: the connection ended with {err}, not a FIN")
        check(sent[0] >= big, f"lingering close: portico stopped reading after {sent[0]} bytes")
    log("over-limit body still being sent: 413 read whole, then FIN")
    check(not origin.reqs(), f"over-limit requests reached the origin: {[r.target for r in origin.reqs()]}")
    with HttpClient(("127.0.0.1", port), timeout=3) as c:
        r = c.request("POST", "/ok", body=b"b" * BODY)
        check(r.status == 200 and r.json()["body_len"] == BODY, f"body at the limit: {r.status}")
        c.send(b"POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY))
        r = c.response()
        check(r.status == 200 and r.json()["body_len"] == BODY, f"chunked body at the limit: {r.status}")
        r = c.request("GET", line_ok)
        check(r.status == 200, f"request line at the limit: {r.status}")
        c.send(f"GET /a HTTP/1.1\r\nHost: x\r\n{fields_ok}\r\n".encode())
        r = c.response()
        check(r.status == 200, f"{FIELDS} header fields: {r.status}")
    # The largest limits the config accepts are honoured: a head with as many
    # fields as limits.headers allows is forwarded whole (portico's own
    # rewriting buffers grow to fit it), one more is a 431.
    many = "".join(f"X-Many-{i}: {i}\r\n" for i in range(MAX_FIELDS - 1))  # + Host
    with HttpClient(("127.0.0.1", wide), timeout=5) as c:
        c.send(f"GET /echo HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
        r = c.response()
        check(r is not None and r.status == 200, f"{MAX_FIELDS} fields on the wide listener: {r and r.status}")
        got = [v for k, v in r.json()["headers"] if k.startswith("X-Many-")]
        check(got == [str(i) for i in range(MAX_FIELDS - 1)], f"fields reaching the origin: {len(got)}")
        c.send(f"GET /echo HTTP/1.1\r\nHost: x\r\n{many}X-One-More: 1\r\n\r\n".encode())
        r = c.response()
        check(r is not None and r.status == 431, f"{MAX_FIELDS + 1} fields: {r and r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
