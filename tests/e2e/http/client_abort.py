#!/usr/bin/env python3
"""Clients that go away mid-exchange: a client closing during a 64 MiB
download, or in the middle of a 16 MiB upload, or while the origin has not
answered yet, makes portico close that upstream connection (it never goes
back to the pool with half a message on it) within a bounded time, and so
does a client resetting its connection while the origin has not answered
(with a 30 s response timeout); the next requests are served normally."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import MiB, ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ] }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ], response_timeout: 30s }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    def served(what: str) -> None:
        with HttpClient(("127.0.0.1", port), timeout=5) as c:
            r = c.request("GET", "/echo")
            check(r.status == 200, f"after {what}: {r.status}")

    # download cut short
    c = HttpClient(("127.0.0.1", port), timeout=5)
    c.send(b"GET /big?n=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    while got < 1 * MiB:
        got += len(c.sock.recv(65536))
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    origin.wait_for(lambda s: s.active == 0, 5, "the download's upstream connection to close")
    served("an aborted download")
    # upload cut short
    before = origin.accepted
    c = HttpClient(("127.0.0.1", port), timeout=5)
    c.send(f"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {16 * MiB}\r\n\r\n".encode())
    c.send(b"u" * MiB)
    time.sleep(0.2)
    c.close()
    origin.wait_for(lambda s: s.active == 0, 5, "the upload's upstream connection to close")
    served("an aborted upload")
    check(not origin.reqs("/sink") or origin.reqs("/sink")[-1].body_len < 16 * MiB, "upload completed?")
    check(origin.accepted > before, "the half-uploaded upstream connection was reused")
    # client reset while the origin has not answered: the upstream request is abandoned
    c = HttpClient(("127.0.0.1", port), timeout=5)
    c.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    origin.wait_for(lambda s: s.hanging == 1, 3, "the hanging request")
    hang_conn = origin.reqs("/hang")[-1].conn
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    t0 = time.monotonic()
    origin.wait_for(lambda s: hang_conn not in s.open_idx, 5,
                    "portico to close the upstream connection of a request whose client reset")
    check(time.monotonic() - t0 < 3, "upstream connection of a reset client kept until a timeout")
    served("a client that left a pending request")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
