#!/usr/bin/env python3
"""Header timeout (slowloris): a client trickling its request head is cut
(408 or a close) at timeouts.header after its first byte, plus a margin, also
for the second request on a keep-alive connection; a slow client that
finishes its head in time is served."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, TestFailure, check, log, main  # noqa: E402
from http_origin import HttpClient, http_config, read_response  # noqa: E402

HEADER_TIMEOUT = 1.0
MARGIN = 0.8


def trickle_until_cut(c: HttpClient, t0: float, what: str) -> None:
    """Sends one header byte every 100 ms until portico answers or closes."""
    head = b"X-Slow: " + b"s" * 1000
    i = 0
    c.sock.settimeout(0.1)
    while True:
        elapsed = time.monotonic() - t0
        if elapsed > HEADER_TIMEOUT + MARGIN + 2:
            raise TestFailure(f"{what}: still open {elapsed:.1f}s after the first byte "
                              f"(header timeout {HEADER_TIMEOUT}s)")
        try:
            c.sock.sendall(head[i % len(head):i % len(head) + 1])
            i += 1
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            b = c.sock.recv(65536)
            if not b:
                break
            c.reader.buf += b
            if b"\r\n\r\n" in c.reader.buf:
                break
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
    elapsed = time.monotonic() - t0
    status = None
    if c.reader.buf:
        c.sock.settimeout(2)
        r = read_response(c.reader)
        status = r.status if r else None
        check(status == 408, f"{what}: answered {status}, expected 408 or a close")
        check(c.closed(2), f"{what}: connection open after the 408")
    log(f"{what}: cut after {elapsed:.2f}s ({status or 'closed'})")
    check(HEADER_TIMEOUT - 0.1 <= elapsed <= HEADER_TIMEOUT + MARGIN,
          f"{what}: cut after {elapsed:.2f}s, expected {HEADER_TIMEOUT}s (+{MARGIN}s)")


def run(t: TestContext) -> None:
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, '
                  f'routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ], '
                  f'timeouts: {{ header: {int(HEADER_TIMEOUT * 1000)}ms, idle: 20s }} }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        trickle_until_cut(c, t0, "first request")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/")
        check(r.status == 200, f"keep-alive request: {r.status}")
        time.sleep(HEADER_TIMEOUT + 0.3)  # idle between requests is not header time
        t0 = time.monotonic()
        c.send(b"GET /2 HTTP/1.1\r\n")
        trickle_until_cut(c, t0, "second request on a keep-alive connection")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:  # slow but in time
        for piece in (b"GET / HT", b"TP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
            c.send(piece)
            time.sleep(HEADER_TIMEOUT / 6)
        r = c.response()
        check(r is not None and r.status == 200, f"slow head finished in time: {r and r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
