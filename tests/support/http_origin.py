"""HTTP/1.1 test origin and client helpers for the L7 e2e tests (stdlib only).

HttpOrigin is a threaded HTTP/1.1 server (one thread per TCP connection, like
the harness's TcpServer) that records every request it parsed (`requests`) and
counts its TCP connections (`accepted`). What it answers depends on the path
(the query string carries parameters):

Only the last path segment counts (so /v2/big is /big), and .../status/NNN.

    /status/NNN          status NNN; a small body unless 1xx/204/304 or HEAD
    /big?n=N&seed=S      N bytes of Pattern(S) with Content-Length, sent as fast as possible
    /chunked?n=N&size=K  N bytes of Pattern(seed) as chunks of K bytes
    /untilclose?n=N      N bytes of Pattern, no framing: the body ends at close
    /sink                reads the body (any size) hashing it, answers JSON {len, sha256}
    /hang                reads the request and never answers (until the peer or stop closes)
    /close               reads the request and closes without answering
    /garbage             answers bytes that are not an HTTP response, then closes
    /raw?r=B64           answers the (urlsafe base64) bytes as they are, then closes
    /ws                  101 Switching Protocols + WebSocket echo (text/binary/ping/close)
    /hop                 like the default, with hop-by-hop response fields added
    anything else        200, JSON describing the request: method, target, version,
                         headers ([[name, value], ...]), body length/sha256, conn index

Options: `close_after_each` closes the connection right after each response
(no Connection: close header, like an origin with a tiny keep-alive timeout);
`drop_reused` reads the second request on a connection and closes it without
an answer (a pooled connection that died while the request crossed it).

Client side: `HttpResponse`, `read_response(sock)`, `request(sock, ...)` and
`curl(...)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from portico_harness import KiB, MiB, Pattern, TcpServer, TestFailure

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B3A"
MAX_HEAD = 256 * KiB


class ConnReader:
    """Buffered reads on a blocking socket: lines, exact counts, until close."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self, want: int = 64 * KiB) -> bool:
        if self.eof:
            return False
        b = self.sock.recv(max(want, 64 * KiB))
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def read_until(self, sep: bytes, limit: int = MAX_HEAD) -> bytes | None:
        """Bytes up to and including sep; None at EOF before sep."""
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[: i + len(sep)])
                del self.buf[: i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise TestFailure(f"no {sep!r} within {limit} bytes")
            start = max(0, len(self.buf) - len(sep) + 1)
            if not self._fill():
                return None

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill(n - len(self.buf)):
                raise TestFailure(f"EOF after {len(self.buf)} of {n} bytes")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self, maximum: int) -> bytes:
        """Up to maximum bytes (at least 1 unless EOF)."""
        if not self.buf:
            self._fill(maximum)
        out = bytes(self.buf[:maximum])
        del self.buf[:maximum]
        return out


def parse_head(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Start line and header list of a head (ending in CRLFCRLF)."""
    lines = raw.decode("latin-1").split("\r\n")
    start = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name, value.strip(" \t")))
    return start, headers


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return None


def header_all(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name.lower()]


def iter_body(r: ConnReader, headers: list[tuple[str, str]], until_close: bool, chunk_cb) -> int:
    """Reads a message body per its framing, calling chunk_cb(bytes) for each
    piece; returns the length. Chunked bodies are decoded."""
    te = header(headers, "Transfer-Encoding")
    total = 0
    if te is not None and "chunked" in te.lower():
        while True:
            line = r.read_until(b"\r\n", 4 * KiB)
            if line is None:
                raise TestFailure("EOF in chunk size line")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers
                    t = r.read_until(b"\r\n", 64 * KiB)
                    if t is None or t == b"\r\n":
                        break
                return total
            left = size
            while left:
                b = r.read_some(min(left, 1 * MiB))
                if not b:
                    raise TestFailure("EOF in chunk data")
                chunk_cb(b)
                left -= len(b)
                total += len(b)
            if r.read_exact(2) != b"\r\n":
                raise TestFailure("chunk not followed by CRLF")
    cl = header(headers, "Content-Length")
    if cl is not None:
        left = int(cl)
        while left:
            b = r.read_some(min(left, 1 * MiB))
            if not b:
                raise TestFailure(f"EOF with {left} of {cl} body bytes missing")
            chunk_cb(b)
            left -= len(b)
            total += len(b)
        return total
    if until_close:
        while True:
            b = r.read_some(1 * MiB)
            if not b:
                return total
            chunk_cb(b)
            total += len(b)
    return 0


@dataclass
class OriginRequest:
    conn: int
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body_len: int = 0
    body_sha: str = ""
    body: bytes = b""  # kept when small (<= 1 MiB)
    chunked: bool = False

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


class HttpOrigin(TcpServer):
    """See the module docstring."""

    def __init__(self, *a, close_after_each: bool = False, drop_reused: bool = False,
                 seed: int = 5, **kw) -> None:
        super().__init__(*a, **kw)
        self.close_after_each = close_after_each
        self.drop_reused = drop_reused
        self.requests: list[OriginRequest] = []
        self.pattern = Pattern(seed)
        self.dropped = 0
        self.hanging = 0
        self.ws_frames = 0
        self.open_idx: set[int] = set()  # indexes (1-based accept order) of connections being served

    def reqs(self, path: str | None = None) -> list[OriginRequest]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def handle(self, conn: socket.socket, index: int) -> None:
        with self.lock:
            self.open_idx.add(index)
        try:
            self._serve(conn, index)
        finally:
            with self.lock:
                self.open_idx.discard(index)

    def _serve(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(60)
        r = ConnReader(conn)
        n_on_conn = 0
        while not self._stop.is_set():
            raw = r.read_until(b"\r\n\r\n")
            if raw is None:
                return
            start, headers = parse_head(raw)
            parts = start.split(" ")
            if len(parts) != 3:
                self.errors.append(f"bad request line {start!r}")
                return
            method, target, version = parts
            n_on_conn += 1
            req = OriginRequest(index, method, target, version, headers)
            req.chunked = "chunked" in (header(headers, "Transfer-Encoding") or "").lower()
            if req.path.endswith("/early"):
                # An origin refusing an upload: the final answer goes before the
                # body is read (then the body is read and dropped, and the
                # connection goes on).
                self.simple(conn, req, 413, b"refused early\n", [], "text/plain")
                with self.lock:
                    self.requests.append(req)
                try:
                    req.body_len = iter_body(r, headers, False, lambda b: None)
                except TestFailure:
                    return  # the proxy gave up on the rest of the body, and the connection
                self._count(len(raw) + req.body_len)
                continue
            if not req.path.endswith("/ws"):
                h = hashlib.sha256()
                keep = bytearray()

                def take(b: bytes) -> None:
                    h.update(b)
                    if len(keep) < 1 * MiB:
                        keep.extend(b[: 1 * MiB - len(keep)])

                if req.header("Expect") is not None:
                    pass  # portico answers 100-continue itself; we just read
                req.body_len = iter_body(r, headers, False, take)
                req.body_sha = h.hexdigest()
                req.body = bytes(keep)
            self._count(len(raw) + req.body_len)
            with self.lock:
                self.requests.append(req)
            if self.drop_reused and n_on_conn == 2:
                with self.lock:
                    self.dropped += 1
                return
            keep_alive = self.respond(conn, r, req)
            if not keep_alive or self.close_after_each:
                return
            conn_hdr = (req.header("Connection") or "").lower()
            if "close" in conn_hdr or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr):
                return

    # ---- responses

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self._count(0, len(data))

    def simple(self, conn: socket.socket, req: OriginRequest, status: int, body: bytes,
               extra: list[tuple[str, str]] = (), ctype: str = "application/json") -> None:
        no_body = status in (204, 304) or 100 <= status < 200
        head = [f"HTTP/1.1 {status} X"]
        if not no_body:
            head.append(f"Content-Length: {len(body)}")
            head.append(f"Content-Type: {ctype}")
        head += [f"{n}: {v}" for n, v in extra]
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if req.method != "HEAD" and not no_body:
            data += body
        self.send(conn, data)

    def respond(self, conn: socket.socket, r: ConnReader, req: OriginRequest) -> bool:
        """Answers req; False = close the connection afterwards."""
        u = urlsplit(req.target)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        m = re.search(r"/status/(\d{3})$", u.path)
        path = "/status/" if m else "/" + u.path.rsplit("/", 1)[-1]  # routes may prefix paths
        if m:
            status = int(m.group(1))
            extra = [("ETag", '"v1"')] if status == 304 else []
            self.simple(conn, req, status, f"status {status}\n".encode(), extra, "text/plain")
            return True
        if path == "/big":
            n = int(q.get("n", "0"))
            pat = Pattern(int(q["seed"])) if "seed" in q else self.pattern
            self.send(conn, f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n"
                            f"Content-Type: application/octet-stream\r\n\r\n".encode())
            if req.method == "HEAD":
                return True
            off = 0
            while off < n:
                k = min(n - off, 1 * MiB)
                self.send(conn, pat.chunk(off, k))
                off += k
            return True
        if path == "/chunked":
            n = int(q.get("n", "0"))
            size = int(q.get("size", "1000"))
            self.send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            b"Content-Type: application/octet-stream\r\n\r\n")
            off = 0
            while off < n:
                k = min(n - off, size)
                self.send(conn, b"%x\r\n" % k + self.pattern.chunk(off, k) + b"\r\n")
                off += k
            self.send(conn, b"0\r\nX-Trailer: t\r\n\r\n")
            return True
        if path == "/untilclose":
            n = int(q.get("n", "0"))
            self.send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            off = 0
            while off < n:
                k = min(n - off, 64 * KiB)
                self.send(conn, self.pattern.chunk(off, k))
                off += k
            return False
        if path == "/sink":
            body = json.dumps({"len": req.body_len, "sha256": req.body_sha}).encode()
            self.simple(conn, req, 200, body)
            return True
        if path == "/hang":
            with self.lock:
                self.hanging += 1
            conn.settimeout(0.1)
            deadline = time.monotonic() + 50
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    if not conn.recv(65536):
                        return False
                except socket.timeout:
                    continue
            return False
        if path == "/close":
            return False
        if path == "/raw":
            self.send(conn, base64.urlsafe_b64decode(q["r"]))
            return False
        if path == "/garbage":
            self.send(conn, b"THIS IS NOT HTTP\r\n\r\n")
            return False
        if path == "/ws":
            return self.websocket(conn, r, req)
        info = {"method": req.method, "target": req.target, "version": req.version,
                "headers": req.headers, "body_len": req.body_len, "body_sha256": req.body_sha,
                "conn": req.conn}
        extra = [("X-Origin", "yes"), ("X-Secret", "s3cret")]
        if path == "/hop":
            # hop-by-hop fields in a response must not reach the client
            extra += [("Connection", "X-Resp-Hop"), ("X-Resp-Hop", "1"), ("Keep-Alive", "timeout=5"),
                      ("Proxy-Authenticate", "Basic"), ("Upgrade", "h2c"), ("Trailer", "X-T")]
        self.simple(conn, req, 200, json.dumps(info).encode(), extra)
        return True

    def websocket(self, conn: socket.socket, r: ConnReader, req: OriginRequest) -> bool:
        key = req.header("Sec-WebSocket-Key")
        if not key or (req.header("Upgrade") or "").lower() != "websocket":
            self.simple(conn, req, 400, b"not a websocket handshake\n", ctype="text/plain")
            return False
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send(conn, (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        while True:
            frame = ws_read_frame(r)
            if frame is None:
                return False
            fin, opcode, masked, payload = frame
            if not masked:
                self.errors.append("websocket: unmasked client frame")
                return False
            with self.lock:
                self.ws_frames += 1
            if opcode == 0x8:
                self.send(conn, ws_frame(0x8, payload[:2]))
                return False
            if opcode == 0x9:
                self.send(conn, ws_frame(0xA, payload))
                continue
            self.send(conn, ws_frame(opcode, payload, fin=fin))


# ------------------------------------------------------------ websocket frames

def ws_frame(opcode: int, payload: bytes, mask: bytes | None = None, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        return head + mask + masked
    return head + payload


def ws_read_frame(r: ConnReader) -> tuple[bool, int, bool, bytes] | None:
    """(fin, opcode, masked, unmasked payload) or None at EOF."""
    try:
        h = r.read_exact(2)
    except TestFailure:
        return None
    fin = bool(h[0] & 0x80)
    opcode = h[0] & 0x0F
    masked = bool(h[1] & 0x80)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", r.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", r.read_exact(8))[0]
    mask = r.read_exact(4) if masked else None
    payload = r.read_exact(n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return fin, opcode, masked, payload


# ------------------------------------------------------------ client side

@dataclass
class HttpResponse:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    body_len: int = 0
    body_sha: str = ""
    raw_head: bytes = b""
    chunked: bool = False
    interim: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    def json(self) -> dict:
        return json.loads(self.body)


def read_response(r: ConnReader, method: str = "GET", keep_body: int = 4 * MiB,
                  skip_interim: bool = True) -> HttpResponse | None:
    """One response from r (None at a clean EOF before any byte). 1xx interim
    responses are skipped (and listed) unless skip_interim is False."""
    interim = []
    while True:
        raw = r.read_until(b"\r\n\r\n")
        if raw is None:
            if r.buf:
                raise TestFailure(f"EOF inside a response head: {bytes(r.buf[:200])!r}")
            return None
        start, headers = parse_head(raw)
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        status = int(code)
        if 100 <= status < 200 and status != 101 and skip_interim:
            interim.append(status)
            continue
        break
    resp = HttpResponse(status, reason, version, headers, raw_head=raw, interim=interim)
    resp.chunked = "chunked" in (header(headers, "Transfer-Encoding") or "").lower()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return resp
    h = hashlib.sha256()
    keep = bytearray()

    def take(b: bytes) -> None:
        h.update(b)
        if len(keep) < keep_body:
            keep.extend(b[: keep_body - len(keep)])

    resp.body_len = iter_body(r, headers, True, take)
    resp.body_sha = h.hexdigest()
    resp.body = bytes(keep)
    return resp


def read_to_eof(s: socket.socket, timeout: float = 5.0) -> tuple[bytes, str]:
    """Everything a (plain or TLS) socket delivers until its end, and how it
    ended: "eof" (FIN; on TLS, close_notify), "ragged" (TLS: EOF without
    close_notify, seen when the socket does not suppress ragged EOFs),
    "reset" or "timeout"."""
    import ssl
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data, "eof"
            data += d
    except ssl.SSLEOFError:
        return data, "ragged"
    except (ConnectionResetError, ssl.SSLError):
        return data, "reset"
    except socket.timeout:
        return data, "timeout"


def build_request(method: str, target: str, host: str = "example.test",
                  headers: list[tuple[str, str]] = (), body: bytes | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{n}: {v}" for n, v in headers]
    if body is not None and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class HttpClient:
    """A raw keep-alive client connection (blocking, with a timeout)."""

    def __init__(self, addr: tuple, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.settimeout(timeout)
        self.reader = ConnReader(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, host: str = "example.test",
                headers: list[tuple[str, str]] = (), body: bytes | None = None) -> HttpResponse:
        self.send(build_request(method, target, host, headers, body))
        resp = read_response(self.reader, method)
        if resp is None:
            raise TestFailure(f"{method} {target}: connection closed without a response")
        return resp

    def response(self, method: str = "GET") -> HttpResponse | None:
        return read_response(self.reader, method)

    def closed(self, timeout: float = 2.0) -> bool:
        """True if the peer closes (EOF/RST) within timeout with no further bytes."""
        self.sock.settimeout(timeout)
        try:
            if self.reader.buf:
                return False
            b = self.sock.recv(65536)
            return b == b""
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *a) -> None:
        self.close()


def curl(args: list[str], timeout: float = 20.0) -> tuple[int, list[tuple[str, str]], bytes]:
    """Runs curl -sS -i with args; returns (status, headers, body) of the last
    response (interim 1xx skipped). Raises TestFailure if curl fails."""
    cmd = ["curl", "-sS", "-i", "--max-time", str(int(timeout)), "--noproxy", "*"] + args
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"`{' '.join(cmd)}` hung")
    if p.returncode != 0:
        raise TestFailure(f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    out = p.stdout
    while True:
        i = out.find(b"\r\n\r\n")
        if i < 0:
            raise TestFailure(f"curl output has no head: {out[:300]!r}")
        start, headers = parse_head(out[: i + 4])
        status = int(start.split(" ")[1])
        out = out[i + 4:]
        if 100 <= status < 200 and status != 101:
            continue
        return status, headers, out


def http_config(listeners: str, clusters: str = "", workers: int = 1, access_log: str = "off",
                extra: str = "") -> str:
    """A complete portico config for HTTP tests: listeners/clusters are YAML
    list bodies ("  - ..." lines); clusters may be empty."""
    cl = f"clusters:\n{clusters.rstrip()}\n" if clusters.strip() else "clusters: []\n"
    return (f"workers: {workers}\n"
            f"event_loop: auto\n"
            f"drain_timeout: 5s\n"
            f"log: {{ level: info, access: {{ path: \"{access_log}\", format: json }} }}\n"
            f"admin: {{ bind: null }}\n"
            f"{extra}"
            f"listeners:\n{listeners.rstrip()}\n"
            f"{cl}")
