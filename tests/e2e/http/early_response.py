#!/usr/bin/env python3
"""An origin that answers before the request body has ended (an upload it
refuses): the client gets that response with Connection: close, can still
send the rest of its body without a reset destroying the answer, and then sees
the connection close; for Content-Length and chunked bodies. A response that
does not say Connection: close always leaves a connection that serves the
next request. The origin's connection is not reused for the next request."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import KiB, ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402


def chunked(data: bytes, size: int, last: bool = True) -> bytes:
    out = bytearray()
    for off in range(0, len(data), size):
        piece = data[off:off + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return bytes(out + (b"0\r\n\r\n" if last else b""))


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ cluster: app }}''',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    body = Pattern(9).chunk(0, 2048 * KiB)
    framings = {
        "content-length": (f"Content-Length: {len(body)}", body),
        # 16 KiB in 1-byte chunks first (96 KiB on the wire), then 4 KiB chunks
        "chunked": ("Transfer-Encoding: chunked",
                    chunked(body[:16 * KiB], 1, last=False) + chunked(body[16 * KiB:], 4096)),
    }
    for name, (framing, wire) in framings.items():
        with HttpClient(("127.0.0.1", port), timeout=5) as c:
            # The head and the first part of the body: the origin answers at once.
            c.send(f"POST /early HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode() + wire[:64 * KiB])
            r = c.response("POST")
            check(r is not None and r.status == 413, f"{name}: early answer: {r and r.status}")
            check("close" in (r.header("Connection") or "").lower(),
                  f"{name}: a response sent before the request body ended must say Connection: close "
                  f"(the rest of the body is never read into an exchange): {r.headers}")
            # The rest of the body is read and dropped (no reset), then the close.
            c.send(wire[64 * KiB:])
            check(c.closed(5), f"{name}: connection left open after Connection: close")
    # Invariant over both framings and a body sent whole first: whatever the
    # timing, a response without Connection: close leaves a usable connection.
    for name, (framing, wire) in framings.items():
        with HttpClient(("127.0.0.1", port), timeout=5) as c:
            c.send(f"POST /early HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode() + wire)
            r = c.response("POST")
            check(r is not None and r.status == 413, f"{name}, whole body: {r and r.status}")
            if "close" in (r.header("Connection") or "").lower():
                check(c.closed(5), f"{name}, whole body: Connection: close but left open")
                continue
            r = c.request("GET", "/echo")
            check(r.status == 200, f"{name}, whole body: no Connection: close, yet the next request got {r.status}")
    # The origin's connections that saw an early answer were not reused.
    check(len(origin.reqs("/early")) >= 2, f"origin saw {len(origin.reqs('/early'))} early requests")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        check(c.request("GET", "/echo").status == 200, "a plain request after the early answers")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
