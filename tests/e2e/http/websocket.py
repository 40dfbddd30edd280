#!/usr/bin/env python3
"""WebSocket through portico: the upgrade handshake reaches the origin with
Upgrade/Connection intact, the 101 and Sec-WebSocket-Accept come back, masked
text/binary frames (small, 126-length and 127-length) and a ping are echoed,
a close frame ends the tunnel on both sides; a frame sent along with the
handshake is delivered after the 101; a refused upgrade is a plain response."""
import base64
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import KiB, ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import WS_GUID, HttpClient, HttpOrigin, http_config, read_response, ws_frame, ws_read_frame  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ] }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    key = base64.b64encode(os.urandom(16)).decode()
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send((f"GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        r = read_response(c.reader)
        check(r is not None and r.status == 101, f"handshake: {r and r.status}")
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        check(r.header("Sec-WebSocket-Accept") == want, f"accept key {r.header('Sec-WebSocket-Accept')}")
        check((r.header("Upgrade") or "").lower() == "websocket", f"Upgrade in 101: {r.header('Upgrade')}")
        req = origin.reqs()[-1]
        check((req.header("Upgrade") or "").lower() == "websocket", "Upgrade not forwarded")
        check("upgrade" in (req.header("Connection") or "").lower(), "Connection: upgrade not forwarded")
        pat = Pattern(8)
        messages = [(0x1, "hello, ✓".encode()), (0x2, pat.chunk(0, 125)), (0x2, pat.chunk(1, 126)),
                    (0x1, b"x" * 1000), (0x2, pat.chunk(7, 70 * KiB)), (0x2, b"")]
        for i, (op, payload) in enumerate(messages):
            c.send(ws_frame(op, payload, mask=os.urandom(4)))
            f = ws_read_frame(c.reader)
            check(f is not None, f"message {i}: tunnel closed")
            fin, opcode, masked, data = f
            check(fin and opcode == op and not masked and data == payload,
                  f"message {i}: echo mismatch (op {opcode}, {len(data)} bytes, masked={masked})")
        c.send(ws_frame(0x9, b"ping!", mask=os.urandom(4)))
        f = ws_read_frame(c.reader)
        check(f is not None and f[1] == 0xA and f[3] == b"ping!", f"pong: {f}")
        c.send(ws_frame(0x8, b"\x03\xe8", mask=os.urandom(4)))
        f = ws_read_frame(c.reader)
        check(f is not None and f[1] == 0x8, f"close echo: {f}")
        check(c.closed(3), "tunnel not closed after the origin closed")
    check(origin.ws_frames == len(messages) + 2, f"origin saw {origin.ws_frames} frames")
    origin.wait_for(lambda s: s.active == 0, 3, "origin connection closed")
    # A frame written right behind the handshake (before the 101) belongs to the tunnel.
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        early = ws_frame(0x1, b"early bird", mask=os.urandom(4))
        c.send((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode() + early)
        r = read_response(c.reader)
        check(r is not None and r.status == 101, f"second handshake: {r and r.status}")
        f = ws_read_frame(c.reader)
        check(f is not None and f[3] == b"early bird", f"frame sent with the handshake: {f}")
    # An upgrade the origin refuses is an ordinary response.
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")  # no key: the origin answers 400
        r = read_response(c.reader)
        check(r is not None and r.status == 400, f"refused upgrade: {r and r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
