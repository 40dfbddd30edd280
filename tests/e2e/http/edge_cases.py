#!/usr/bin/env python3
"""Stateful edge cases of an HTTP connection, each once a crash, a hang or a
lost response (found by an adversarial sweep with an ASan build):
- an Upgrade offer portico does not take (h2c; any upgrade to a local route)
  is answered as plain HTTP and the connection keeps serving;
- a malformed request pipelined after a good one gets its 400 after the 200
  (not a reset that destroys both); an unfinished one its 408; an HTTP/0.9
  request line its 505 at once, not at the header timeout;
- a bad chunked body on a route portico answers itself: the answer still
  arrives, then the connection closes (no bare reset);
- a static file and a fixed response pipelined, then the client's
  half-close: both arrive;
- an HTTP/1.0 client gets a chunked origin response de-chunked and
  close-delimited; a redirect's {path} is the path for an absolute-form
  target too;
- tunnels: a client that sends and half-closes gets the whole echo; the
  origin's EOF while the client still sends (and reads slowly) loses no byte
  and does not crash;
- TLS: a client that half-closes TCP without close_notify after a proxied
  request still gets the response; a TLS tunnel whose client does the same
  does not crash portico."""
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TcpServer, TestContext, check, main  # noqa: E402
from http_origin import ConnReader, http_config, read_to_eof  # noqa: E402
from tls_certs import Pki  # noqa: E402

STREAM = 3 * 1024 * 1024


class RawOrigin(TcpServer):
    """Keep-alive HTTP/1.1 origin driven by the request path:
    /chunked   a chunked 200 ("hello")
    /ws-echo   101, then echoes every byte until EOF, then closes
    /ws-stream 101, then STREAM bytes and FIN (reading and dropping input)
    anything else: 200 "origin" with Content-Length."""

    def handle(self, conn: socket.socket, index: int) -> None:
        r = ConnReader(conn)
        while True:
            head = r.read_until(b"\r\n\r\n")
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for ln in lines[1:]:
                if ln.lower().startswith("content-length:"):
                    length = int(ln.split(":", 1)[1])
            r.read_exact(length)
            if path == "/chunked":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            elif path.startswith("/ws-"):
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                if path == "/ws-echo":
                    while True:
                        d = r.read_some(65536)
                        if not d:
                            break
                        conn.sendall(d)
                    conn.shutdown(socket.SHUT_WR)
                else:
                    conn.sendall(bytes(STREAM))
                    conn.shutdown(socket.SHUT_WR)
                    read_to_eof(conn, 10)  # until the proxy closes (bounded), so that ours is no RST
                return
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\norigin")


def statuses(data: bytes) -> list[int]:
    out, i = [], 0
    while True:
        i = data.find(b"HTTP/1.", i)
        if i < 0:
            return out
        out.append(int(data[i + 9:i + 12]))
        i += 12


WS = b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"


def run(t: TestContext) -> None:
    origin = t.add(RawOrigin(name="origin"))
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    cert, key = pki.issue("a", "/CN=a.example.test", ["a.example.test"])
    root = os.path.join(t.tmpdir, "www")
    os.makedirs(os.path.join(root, "st"))
    with open(os.path.join(root, "st", "a.txt"), "wb") as f:
        f.write(b"static file\n")
    port, tport = t.port(), t.port()
    routes = f"""
      - {{ match: {{ path: "/respond" }}, respond: {{ status: 200, body: "local\\n" }} }}
      - {{ match: {{ path: "/none" }}, respond: {{ status: 204 }} }}
      - {{ match: {{ path: "/moved" }}, redirect: {{ status: 301, location: "https://{{host}}{{path}}" }} }}
      - {{ match: {{ path_prefix: "/st/" }}, static: {{ root: "{root}" }} }}
      - {{ cluster: app }}"""
    cfg = http_config(
        listeners=f"""  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    timeouts: {{ header: 1s }}
    routes:{routes}
  - name: tls
    bind: "127.0.0.1:{tport}"
    protocol: http
    tls: {{ certificates: [ {{ cert: "{cert}", key: "{key}" }} ] }}
    routes:{routes}""",
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port), ListenerSpec("127.0.0.1", tport)])

    def conn() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    def tls_conn() -> ssl.SSLSocket:
        ctx = ssl.create_default_context(cafile=pki.ca)
        raw = socket.create_connection(("127.0.0.1", tport), timeout=5)
        return ctx.wrap_socket(raw, server_hostname="a.example.test")

    # --- upgrade offers portico does not take: answered as plain HTTP
    for target in ("/respond", "/proxied", "/nowhere-local"):
        for pipelined in (True, False):
            first = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".encode()
            second = b"GET /respond HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            with conn() as s:
                if pipelined:
                    s.sendall(first + second)
                else:
                    s.sendall(first)
                    time.sleep(0.2)
                    s.sendall(second)
                data, how = read_to_eof(s)
            check(statuses(data) == [200, 200] and how == "eof",
                  f"h2c offer to {target} (pipelined={pipelined}): {statuses(data)} then {how}")
    with conn() as s:  # a WebSocket offer to a local route: answered, then closed
        s.sendall(b"GET /respond HTTP/1.1\r\nHost: x\r\n" + WS + b"\r\n")
        data, how = read_to_eof(s)
        check(statuses(data) == [200] and data.endswith(b"local\n") and how == "eof", f"ws to local: {data[:80]!r} {how}")

    # --- errors on a request after a completed one
    with conn() as s:
        s.sendall(b"GET /respond HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost : x\r\n\r\n")
        data, how = read_to_eof(s)
        check(statuses(data) == [200, 400] and how == "eof", f"good + malformed: {statuses(data)} then {how}")
    with conn() as s:
        s.sendall(b"GET /respond HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        data, how = read_to_eof(s)
        check(statuses(data) == [200, 408] and how == "eof", f"good + unfinished: {statuses(data)} then {how}")
        check(time.monotonic() - t0 < 4, "408 came late")

    # --- an HTTP/0.9 request line: refused at once (505), not left to the header timeout (408)
    for sent in (b"GET /\r\n", b"GET /respond HTTP/1.1\r\nHost: x\r\n\r\nGET /\r\n"):
        with conn() as s:
            s.sendall(sent)
            data, how = read_to_eof(s)  # a 408 would mean it waited for the header timeout
            want = [505] if sent.startswith(b"GET /\r") else [200, 505]
            check(statuses(data) == want and how == "eof", f"HTTP/0.9 {sent!r}: {statuses(data)} then {how}")

    # --- a bad chunked body on routes portico answers itself
    for target, want in (("/respond", 200), ("/st/a.txt", 405)):
        with conn() as s:
            s.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n".encode())
            data, how = read_to_eof(s)
            check(statuses(data) == [want] and how == "eof", f"bad chunk to {target}: {statuses(data)} then {how}")

    # --- a static file and a fixed response, pipelined, then half-close
    for _ in range(5):
        with conn() as s:
            s.sendall(b"GET /st/a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /respond HTTP/1.1\r\nHost: x\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            data, how = read_to_eof(s)
            check(statuses(data) == [200, 200] and data.endswith(b"local\n") and how == "eof",
                  f"static + respond + half-close: {statuses(data)} then {how}")

    # --- framing: HTTP/1.0 and a chunked origin; 204; absolute-form redirect
    with conn() as s:
        s.sendall(b"GET /chunked HTTP/1.0\r\nHost: x\r\n\r\n")
        data, how = read_to_eof(s)
        head, _, body = data.partition(b"\r\n\r\n")
        check(b"transfer-encoding" not in head.lower() and body == b"hello" and how == "eof",
              f"chunked origin to HTTP/1.0: {data!r}")
    with conn() as s:
        s.sendall(b"GET /none HTTP/1.1\r\nHost: x\r\n\r\nGET /respond HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, how = read_to_eof(s)
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        check(statuses(data) == [204, 200] and b"content-length" not in head, f"204: {data!r}")
    with conn() as s:
        s.sendall(b"GET http://a.example/moved?q=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
        data, how = read_to_eof(s)
        check(b"\r\nLocation: https://a.example/moved?q=1\r\n" in data, f"absolute-form redirect: {data!r}")

    # --- tunnels
    payload = os.urandom(200_000)
    with conn() as s:  # data, then half-close: the whole echo, then EOF
        s.sendall(b"GET /ws-echo HTTP/1.1\r\nHost: x\r\n" + WS + b"\r\n" + payload)
        s.shutdown(socket.SHUT_WR)
        data, how = read_to_eof(s, 10)
        body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
        check(statuses(data)[:1] == [101] and body == payload and how == "eof",
              f"tunnel half-close: {len(body)} of {len(payload)} bytes echoed, then {how}")
    with conn() as s:  # the origin's EOF while the client still sends (and reads behind)
        s.sendall(b"GET /ws-stream HTTP/1.1\r\nHost: x\r\n" + WS + b"\r\n")
        time.sleep(0.3)  # the whole stream and the origin's FIN reach portico first
        got, how, deadline = b"", "timeout", time.monotonic() + 20
        s.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                s.send(b"x")
                d = s.recv(16384)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                how = "reset"
                break
            if not d:
                how = "eof"
                break
            got += d
        body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
        check(len(body) == STREAM and how == "eof", f"tunnel stream: {len(body)} of {STREAM} bytes, then {how}")
    check(p.alive(), "portico died in the tunnel cases")

    # --- TLS: TCP half-close without close_notify
    s = tls_conn()
    s.sendall(b"GET /proxied HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
    raw = socket.socket(fileno=os.dup(s.fileno()))
    raw.shutdown(socket.SHUT_WR)  # FIN, no close_notify
    data, how = read_to_eof(s)
    check(statuses(data) == [200] and data.endswith(b"origin"), f"TLS half-close after a proxied request: {data!r} {how}")
    raw.close()
    s.close()
    s = tls_conn()
    s.sendall(b"GET /ws-echo HTTP/1.1\r\nHost: a.example.test\r\n" + WS + b"\r\n" + b"y" * 50_000)
    raw = socket.socket(fileno=os.dup(s.fileno()))
    time.sleep(0.2)
    raw.shutdown(socket.SHUT_WR)
    read_to_eof(s)
    raw.close()
    s.close()
    time.sleep(0.3)
    check(p.alive(), "portico died: TLS tunnel, client FIN without close_notify")
    with conn() as s:
        s.sendall(b"GET /respond HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check(statuses(read_to_eof(s)[0]) == [200], "not serving after the edge cases")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], deadline=120.0)
