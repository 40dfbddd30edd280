#!/usr/bin/env python3
"""PROXY protocol. In: from a trusted network, v1 and v2 headers (sent in the same
packet as the request, or split across writes) give the client address seen in
X-Forwarded-For; a malformed or missing header closes the connection (counted in
portico_listener_proxy_protocol_rejected_total); from an untrusted source a header
is not believed (HTTP: 400). Out: tcp and http clusters with proxy_protocol v1/v2
send the header first on each upstream connection; the origin reads it, with the
inbound header's client address when there was one."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import metric, ops_config, scrape  # noqa: E402
from portico_harness import ListenerSpec, TcpServer, TestContext, check, main  # noqa: E402
from http_origin import HttpOrigin  # noqa: E402

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src: str, dst: str, sport: int, dport: int) -> bytes:
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


class HeaderCapture(TcpServer):
    """Reads the PROXY header (v1 line or v2 block), records it, then acts as an
    HTTP/1.1 server answering 200 "ok" per request (or echoes, for tcp)."""

    def __init__(self, *a, http: bool = True, **kw) -> None:
        super().__init__(*a, **kw)
        self.http = http
        self.headers: list[bytes] = []

    def read_exact(self, conn: socket.socket, n: int, buf: bytes) -> tuple[bytes, bytes]:
        while len(buf) < n:
            b = conn.recv(65536)
            if not b:
                raise ConnectionResetError()
            buf += b
        return buf[:n], buf[n:]

    def handle(self, conn: socket.socket, index: int) -> None:
        head, rest = self.read_exact(conn, 16, b"")
        if head.startswith(SIG):
            more, rest = self.read_exact(conn, struct.unpack("!H", head[14:16])[0], rest)
            hdr = head + more
        else:
            buf = head + rest
            while b"\r\n" not in buf:
                buf += conn.recv(65536)
            i = buf.index(b"\r\n") + 2
            hdr, rest = buf[:i], buf[i:]
        with self.lock:
            self.headers.append(hdr)
        if not self.http:
            while True:
                if rest:
                    conn.sendall(rest)
                rest = conn.recv(65536)
                if not rest:
                    return
        buf = rest
        while True:
            while b"\r\n\r\n" not in buf:
                b = conn.recv(65536)
                if not b:
                    return
                buf += b
            buf = buf[buf.index(b"\r\n\r\n") + 4:]
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


def exchange(port: int, parts: list[bytes], timeout: float = 5.0) -> bytes:
    """Sends parts (with a short pause between them), returns all bytes read until close/timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for i, p in enumerate(parts):
            if i:
                time.sleep(0.1)
            s.sendall(p)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
            if b"\r\n\r\n" in out and out.split(b"\r\n\r\n", 1)[1]:
                break
        return out
    finally:
        s.close()


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    cap_http = t.add(HeaderCapture(name="cap-http"))
    cap_tcp = t.add(HeaderCapture(name="cap-tcp", http=False))
    cap_tcp1 = t.add(HeaderCapture(name="cap-tcp1", http=False))
    web, web_untrusted, relay, relay_plain, ap = t.port(), t.port(), t.port(), t.port(), t.port()
    cfg = ops_config(ap, listeners=f"""
  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    proxy_protocol_from: ["127.0.0.0/8"]
    timeouts: {{ header: 2s }}
    routes:
      - {{ match: {{ path_prefix: "/pp/" }}, cluster: pp_http }}
      - {{ match: {{ path_prefix: "/" }}, cluster: app }}
  - name: untrusted
    bind: "127.0.0.1:{web_untrusted}"
    protocol: http
    proxy_protocol_from: ["10.0.0.0/8", "::1/128"]
    routes:
      - {{ match: {{ path_prefix: "/" }}, cluster: app }}
  - {{ name: relay, bind: "127.0.0.1:{relay}", protocol: tcp, cluster: pp_tcp, proxy_protocol_from: ["127.0.0.1"] }}
  - {{ name: relay_plain, bind: "127.0.0.1:{relay_plain}", protocol: tcp, cluster: pp_tcp1 }}
""", clusters=f"""
  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}
  - {{ name: pp_http, endpoints: [ "{cap_http.endpoint}" ], proxy_protocol: v1 }}
  - {{ name: pp_tcp, endpoints: [ "{cap_tcp.endpoint}" ], proxy_protocol: v2 }}
  - {{ name: pp_tcp1, endpoints: [ "{cap_tcp1.endpoint}" ], proxy_protocol: v1 }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", p) for p in (web, web_untrusted, relay, ap)])
    req = b"GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"

    def xff(path_marker: str) -> str | None:
        rs = [r for r in origin.reqs() if r.target.endswith(path_marker)]
        check(len(rs) == 1, f"origin saw {len(rs)} requests for {path_marker}")
        return rs[0].header("X-Forwarded-For")

    # v1 in the same packet as the request
    out = exchange(web, [b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n" + req.replace(b"/x", b"/a1")])
    check(out.startswith(b"HTTP/1.1 200"), f"v1: {out[:80]!r}")
    check(xff("/a1") == "203.0.113.9", f"v1 X-Forwarded-For: {xff('/a1')}")
    # v1 split across writes, the request after a pause
    out = exchange(web, [b"PROXY TCP6 2001:db8::5 ::1 ", b"40000 80\r\n", req.replace(b"/x", b"/a2")])
    check(out.startswith(b"HTTP/1.1 200"), f"v1 split: {out[:80]!r}")
    check(xff("/a2") == "2001:db8::5", f"v1 split X-Forwarded-For: {xff('/a2')}")
    # v2 in one packet, and split inside the address block
    h = v2("198.51.100.23", "127.0.0.1", 1234, 80)
    out = exchange(web, [h + req.replace(b"/x", b"/a3")])
    check(out.startswith(b"HTTP/1.1 200"), f"v2: {out[:80]!r}")
    check(xff("/a3") == "198.51.100.23", f"v2 X-Forwarded-For: {xff('/a3')}")
    out = exchange(web, [h[:20], h[20:] + req.replace(b"/x", b"/a4")])
    check(out.startswith(b"HTTP/1.1 200") and xff("/a4") == "198.51.100.23", f"v2 split: {out[:80]!r}")
    # v2 LOCAL and v1 UNKNOWN: the real peer
    local = SIG + bytes([0x20, 0x00, 0x00, 0x00])
    out = exchange(web, [local + req.replace(b"/x", b"/a5")])
    check(out.startswith(b"HTTP/1.1 200") and xff("/a5") == "127.0.0.1", f"v2 LOCAL: {out[:80]!r}")
    out = exchange(web, [b"PROXY UNKNOWN\r\n" + req.replace(b"/x", b"/a6")])
    check(out.startswith(b"HTTP/1.1 200") and xff("/a6") == "127.0.0.1", f"v1 UNKNOWN: {out[:80]!r}")

    # malformed or missing headers from a trusted source: closed without an answer
    bad = [b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n" + req, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + req,
           b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n" + req, req,
           SIG + bytes([0x31, 0x11, 0x00, 0x0c]) + b"\x00" * 12 + req, b"PROXY " + b"1" * 200 + b"\r\n"]
    for b in bad:
        out = exchange(web, [b])
        check(out == b"", f"malformed {b[:40]!r}: got {out[:80]!r}, expected a close")
    before = len(origin.reqs())
    # a header that never ends: closed at timeouts.header (2s)
    t0 = time.monotonic()
    out = exchange(web, [b"PROXY TCP4 1.2.3.4 "], timeout=6)
    check(out == b"" and 1.5 < time.monotonic() - t0 < 5, f"unfinished header: {out!r} after {time.monotonic() - t0:.1f}s")
    check(len(origin.reqs()) == before, "nothing reached the origin from rejected connections")

    # untrusted source: a header is not believed (400), a plain request works
    out = exchange(web_untrusted, [b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n" + req])
    check(out.startswith(b"HTTP/1.1 400"), f"untrusted with header: {out[:80]!r}")
    out = exchange(web_untrusted, [req.replace(b"/x", b"/a7")])
    check(out.startswith(b"HTTP/1.1 200") and xff("/a7") == "127.0.0.1", f"untrusted plain: {out[:80]!r}")

    s = scrape(ap)
    check(metric(s, "portico_listener_proxy_protocol_rejected_total", listener="web") == len(bad) + 1,
          "rejected connections counted")
    check(metric(s, "portico_listener_proxy_protocol_rejected_total", listener="untrusted") == 0, "untrusted: 0")

    # out: http cluster with v1 (the inbound client address), one header per upstream connection
    out = exchange(web, [b"PROXY TCP4 192.0.2.77 127.0.0.1 4444 80\r\n" + req.replace(b"/x", b"/pp/1")])
    check(out.startswith(b"HTTP/1.1 200") and out.endswith(b"ok\n"), f"pp_http: {out[:120]!r}")
    out = exchange(web, [local + req.replace(b"/x", b"/pp/2")])
    check(out.startswith(b"HTTP/1.1 200"), f"pp_http 2: {out[:120]!r}")
    with cap_http.lock:
        hs = list(cap_http.headers)
    check(len(hs) == 2, f"two upstream connections with a header each, got {hs}")
    check(hs[0] == b"PROXY TCP4 192.0.2.77 127.0.0.1 4444 80\r\n", f"http v1 header: {hs[0]!r}")
    check(hs[1].startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ") and hs[1].endswith(f" {web}\r\n".encode()),
          f"http v1 header without inbound: {hs[1]!r}")

    # out: tcp cluster with v2, inbound v1 from a trusted peer
    c = socket.create_connection(("127.0.0.1", relay), timeout=5)
    c.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1111 2222\r\nhello")
    got = b""
    while len(got) < 5:
        got += c.recv(100)
    c.close()
    check(got == b"hello", f"tcp relay echo: {got!r}")
    cap_tcp.wait_for(lambda s: len(s.headers) == 1, 5, "a v2 header")
    check(cap_tcp.headers[0] == v2("192.0.2.1", "192.0.2.2", 1111, 2222), f"tcp v2 header: {cap_tcp.headers[0]!r}")
    # out: tcp cluster with v1, no inbound header
    c = socket.create_connection(("127.0.0.1", relay_plain), timeout=5)
    cport = c.getsockname()[1]
    c.sendall(b"hi")
    check(c.recv(10) == b"hi", "plain relay echo")
    c.close()
    cap_tcp1.wait_for(lambda s: len(s.headers) == 1, 5, "a v1 header")
    check(cap_tcp1.headers[0] == f"PROXY TCP4 127.0.0.1 127.0.0.1 {cport} {relay_plain}\r\n".encode(),
          f"tcp v1 header: {cap_tcp1.headers[0]!r}")


if __name__ == "__main__":
    main(run, __doc__)
