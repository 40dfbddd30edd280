"""End-to-end test harness for the portico binary (stdlib only, python >= 3.11).

Each e2e script does:

    from portico_harness import *
    def run(t: TestContext) -> None:
        echo = t.add(TcpEchoServer())
        p = t.portico(f'''
    listeners:
      - {{ name: t, bind: "{t.addr(t.port())}", protocol: tcp, cluster: c }}
    clusters:
      - {{ name: c, endpoints: [ "{echo.endpoint}" ] }}
    ''')
        ...assertions (raise TestFailure / use check())...
    if __name__ == "__main__":
        main(run, "what this test checks")

`main` parses `--portico PATH --backend io_uring|epoll [--wrapper PATH]`, runs the
test under a global deadline, stops portico with SIGTERM (asserting exit 0 and a
sanitizer-clean stderr) and every helper server, and exits 0 (pass), 1 (fail) or
77 (skip, meson's convention) with a clear message.

Servers here are test origins: they run in threads of the test process and
record what they saw (connections, peers, bytes) so tests assert on both ends.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import hashlib
import os
import random
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Iterable

# Per-connection server threads mostly sit in recv(); keep their stacks small so
# 500+ concurrent connections stay cheap.
threading.stack_size(512 * 1024)

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")
# UBSan's vptr check reads the object through a pipe (IsAccessibleMemoryRange);
# while the process has no free descriptor it cannot make one, and it reports a
# type-cache miss as an invalid vptr with "<memory cannot be printed>". Only
# that exact report, and only for a process run out of descriptors on purpose,
# is not counted: there the check could not run, so it says nothing of the code.
UNREADABLE_VPTR = re.compile(
    r"[^\n]*runtime error: (?:member call on|member access within|downcast of) address 0x[0-9a-f]+ "
    r"which does not point to an object of type '[^'\n]+'\n"
    r"0x[0-9a-f]+: note: object has invalid vptr\n<memory cannot be printed>\n")
EXIT_SKIP = 77
MiB = 1024 * 1024
KiB = 1024


class TestFailure(Exception):
    """An assertion about portico's behaviour did not hold."""


class TestSkip(Exception):
    """The host cannot run this test (e.g. no io_uring): exit 77."""


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise TestFailure(msg)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def raise_nofile_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# ---------------------------------------------------------------- addresses --

def free_port(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago (bind to port 0, read it, close)."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_both() -> int:
    """A port free for TCP and UDP, on 127.0.0.1 and ::1."""
    for _ in range(50):
        p = free_port()
        try:
            for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(fam, kind) as s:
                        s.bind((host, p))
            return p
        except OSError:
            continue
    raise RuntimeError("no port free for both TCP and UDP")


def fmt_addr(host: str, port: int) -> str:
    """portico's address syntax: 127.0.0.1:80, [::1]:80."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def family_of(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def io_uring_available() -> tuple[bool, str]:
    """Probe io_uring_setup(2) with a tiny ring; the fd is closed at once."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)  # struct io_uring_params
        nr = {"x86_64": 425, "aarch64": 425}.get(os.uname().machine, 425)
        fd = libc.syscall(nr, 2, params)
        if fd < 0:
            return False, os.strerror(ctypes.get_errno())
        os.close(fd)
        return True, ""
    except OSError as e:
        return False, str(e)


# -------------------------------------------------------------- test data --

class Pattern:
    """A deterministic byte stream: position-dependent, cheap to generate and verify.

    The period (a prime number of bytes) is not a multiple of any buffer size,
    so a lost, duplicated or reordered chunk changes the bytes at that offset.
    """

    PERIOD = 1_000_003

    def __init__(self, seed: int = 1) -> None:
        rnd = random.Random(seed)
        block = rnd.randbytes(self.PERIOD)
        reps = 2 + (4 * MiB) // self.PERIOD
        self._buf = (block * reps)[: self.PERIOD + 4 * MiB]  # any slice up to 4 MiB is contiguous

    def chunk(self, offset: int, n: int) -> bytes:
        assert n <= 4 * MiB
        o = offset % self.PERIOD
        return self._buf[o : o + n]

    def verify(self, offset: int, data: bytes | memoryview) -> int:
        """Returns -1 if data equals the stream at offset, else the first bad offset."""
        pos = 0
        while pos < len(data):
            n = min(len(data) - pos, 4 * MiB)
            if bytes(data[pos : pos + n]) != self.chunk(offset + pos, n):
                expect = self.chunk(offset + pos, n)
                for i in range(n):
                    if data[pos + i] != expect[i]:
                        return offset + pos + i
            pos += n
        return -1

    def sha256(self, total: int) -> str:
        h = hashlib.sha256()
        off = 0
        while off < total:
            n = min(total - off, 1 * MiB)
            h.update(self.chunk(off, n))
            off += n
        return h.hexdigest()


# ------------------------------------------------------------ client side --

def connect(addr: tuple | str, timeout: float = 5.0) -> socket.socket:
    """A blocking client socket to (host, port) or a unix path, with a timeout."""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(family_of(addr[0]), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except BaseException:
        s.close()
        raise
    return s


def recv_exact(s: socket.socket, n: int, timeout: float = 10.0, what: str = "") -> bytes:
    """Receives exactly n bytes or raises TestFailure (timeout or early EOF)."""
    pre = f"{what}: " if what else ""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"{pre}timed out after {timeout}s: received {len(out)} of {n} bytes")
        s.settimeout(left)
        try:
            b = s.recv(min(n - len(out), 1 * MiB))
        except socket.timeout:
            continue
        if not b:
            raise TestFailure(f"{pre}unexpected EOF after {len(out)} of {n} bytes")
        out += b
    return bytes(out)


def echo_roundtrip(s: socket.socket, payload: bytes, timeout: float = 10.0) -> None:
    """Sends payload and expects exactly the same bytes back (sending and
    receiving concurrently, so large payloads cannot deadlock)."""
    if len(payload) <= 64 * KiB:
        s.settimeout(timeout)
        s.sendall(payload)
        got = recv_exact(s, len(payload), timeout, what=f"echo of {len(payload)} bytes")
        check(got == payload, f"echo mismatch for {len(payload)}-byte payload")
        return
    res = stream_through(s, len(payload), source=lambda off, n: payload[off : off + n],
                         timeout=timeout, shut_wr=False)
    check(res.received == len(payload), f"echo: got {res.received} of {len(payload)} bytes")
    check(res.sha_in == hashlib.sha256(payload).hexdigest(), "echo: payload corrupted")


@dataclass
class StreamResult:
    sent: int = 0
    received: int = 0
    sha_in: str = ""
    seconds: float = 0.0
    eof: bool = False


def stream_through(s: socket.socket, total: int, source: Callable[[int, int], bytes] | None = None,
                   pattern: Pattern | None = None, expect: int | None = None,
                   timeout: float = 30.0, shut_wr: bool = True) -> StreamResult:
    """Big-stream sender: writes `total` bytes (from source or pattern) while
    reading what comes back, until `expect` bytes (default total) and EOF or the
    expected count arrived. Non-blocking, single thread, bounded by timeout."""
    if source is None:
        pattern = pattern or Pattern()
        source = pattern.chunk
    expect = total if expect is None else expect
    res = StreamResult()
    h = hashlib.sha256()
    s.setblocking(False)
    t0 = time.monotonic()
    deadline = t0 + timeout
    pending = b""
    wr_open = True
    try:
        while True:
            if res.received >= expect and not wr_open:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"stream timed out after {timeout}s: sent {res.sent}/{total}, "
                                  f"received {res.received}/{expect}")
            want_w = wr_open and (pending or res.sent < total)
            r, w, _ = select.select([s], [s] if want_w else [], [], min(left, 0.5))
            if w:
                if not pending:
                    pending = source(res.sent, min(256 * KiB, total - res.sent))
                try:
                    n = s.send(pending)
                    pending = pending[n:]
                    res.sent += n
                except BlockingIOError:
                    pass
            if wr_open and not pending and res.sent >= total:
                if shut_wr:
                    s.shutdown(socket.SHUT_WR)
                wr_open = False
            if r:
                try:
                    b = s.recv(1 * MiB)
                except BlockingIOError:
                    continue
                if not b:
                    res.eof = True
                    if res.received < expect:
                        raise TestFailure(f"stream: EOF after {res.received} of {expect} bytes "
                                          f"(sent {res.sent}/{total})")
                    break
                h.update(b)
                res.received += len(b)
                if res.received > expect:
                    raise TestFailure(f"stream: received {res.received} > expected {expect} bytes")
    finally:
        s.setblocking(True)
    res.sha_in = h.hexdigest()
    res.seconds = time.monotonic() - t0
    return res


def run_parallel(count: int, job: Callable[[int], list[str]], parallel: int,
                 budget: float) -> tuple[list[str], int, float]:
    """Runs job(0) .. job(count - 1) on `parallel` threads; no job starts after
    `budget` seconds. job(i) returns what went wrong (empty: nothing). Returns
    (every error as "connection i: ...", how many jobs never ran, seconds)."""
    errors: list[str] = []
    lock = threading.Lock()
    todo = list(range(count))
    deadline = time.monotonic() + budget

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            local = job(i)
            with lock:
                errors.extend(f"connection {i}: {m}" for m in local)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(parallel)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(budget + 30)
    with lock:
        return list(errors), len(todo), time.monotonic() - t0


def wait_closed(s: socket.socket, timeout: float, what: str = "") -> tuple[str, float]:
    """Waits until the peer closes s. Returns ("eof"|"reset", seconds) or raises
    TestFailure if still open after timeout. Any data received is ignored."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"{what + ': ' if what else ''}connection still open after {timeout:.1f}s")
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset", time.monotonic() - t0
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                return "reset", time.monotonic() - t0
            raise
        if not b:
            return "eof", time.monotonic() - t0


def connect_expect_close(addr: tuple, timeout: float, what: str, send: bytes = b"") -> tuple[str, float]:
    """Connects, optionally sends, and waits until the peer closes the
    connection: returns ("eof"|"reset", seconds since connect started). A reset
    that races the handshake (connect() itself fails with ECONNRESET, or the
    send does) counts as "reset"."""
    t0 = time.monotonic()
    try:
        s = connect(addr, timeout=timeout)
    except ConnectionResetError:
        return "reset", time.monotonic() - t0
    with s:
        if send:
            try:
                s.sendall(send)
            except (ConnectionResetError, BrokenPipeError):
                return "reset", time.monotonic() - t0
        kind, _ = wait_closed(s, max(0.0, timeout - (time.monotonic() - t0)), what=what)
        return kind, time.monotonic() - t0


def is_open(s: socket.socket, wait: float = 0.0) -> bool:
    """True if no EOF/RST arrived on s within `wait` seconds (data is drained)."""
    deadline = time.monotonic() + wait
    while True:
        left = max(0.0, deadline - time.monotonic())
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return True
        try:
            b = s.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            return False
        if not b:
            return False


# ------------------------------------------------------------ test origins --

class Server:
    """Base of the helper servers: owns a socket and threads, stopped by TestContext."""

    endpoint: str  # portico address syntax of this server

    def start(self) -> "Server":
        return self

    def stop(self) -> None:
        pass


class TcpServer(Server):
    """A threaded TCP (or unix stream) server. `handle(conn, info)` runs in one
    thread per accepted connection. Records counts and peers.

    family: "ipv4" (127.0.0.1), "ipv6" (::1) or "unix" (a path in a temp dir).
    """

    def __init__(self, family: str = "ipv4", port: int = 0, backlog: int = 1024,
                 unix_dir: str | None = None, name: str = "") -> None:
        self.family = family
        self.name = name or type(self).__name__
        self.lock = threading.Lock()
        self.accepted = 0
        self.active = 0
        self.max_active = 0
        self.closed = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.peers: list = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        if family == "unix":
            d = unix_dir or tempfile.mkdtemp(prefix="portico-e2e-sock-")
            self._unix_dir = None if unix_dir else d
            self.path = os.path.join(d, f"{self.name.lower()}-{id(self) & 0xffff:x}.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            self.address = self.path
            self.endpoint = f"unix:{self.path}"
        else:
            host = "::1" if family == "ipv6" else "127.0.0.1"
            self._unix_dir = None
            self.sock = socket.socket(family_of(host), socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.port = self.sock.getsockname()[1]
            self.address = (host, self.port)
            self.endpoint = fmt_addr(host, self.port)
        self.sock.listen(backlog)

    def start(self) -> "TcpServer":
        t = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.01)
                continue
            with self.lock:
                self.accepted += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self.peers.append(peer)
                self._conns.add(conn)
                index = self.accepted
            t = threading.Thread(target=self._run, args=(conn, index), daemon=True,
                                 name=f"{self.name}-{index}")
            t.start()

    def _run(self, conn: socket.socket, index: int) -> None:
        try:
            conn.settimeout(30)
            self.handle(conn, index)
        except (ConnectionResetError, BrokenPipeError):
            pass
        except socket.timeout:
            pass
        except OSError as e:
            if not self._stop.is_set() and e.errno not in (errno.EBADF, errno.ENOTCONN):
                with self.lock:
                    self.errors.append(f"{self.name}#{index}: {e!r}")
        finally:
            with self.lock:
                self.active -= 1
                self.closed += 1
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def handle(self, conn: socket.socket, index: int) -> None:
        raise NotImplementedError

    def _count(self, n_in: int = 0, n_out: int = 0) -> None:
        with self.lock:
            self.bytes_in += n_in
            self.bytes_out += n_out

    def wait_for(self, pred: Callable[["TcpServer"], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred(self):
                    return
            time.sleep(0.02)
        raise TestFailure(f"{self.name}: timed out after {timeout}s waiting for {what} "
                          f"(accepted={self.accepted} active={self.active} closed={self.closed})")

    def stop(self) -> None:
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)
        if self.family == "unix":
            try:
                os.unlink(self.path)
            except OSError:
                pass
            if self._unix_dir:
                try:
                    os.rmdir(self._unix_dir)
                except OSError:
                    pass


class TcpEchoServer(TcpServer):
    """Echoes every byte; on EOF from the peer, finishes echoing then closes."""

    def handle(self, conn: socket.socket, index: int) -> None:
        while True:
            b = conn.recv(256 * KiB)
            if not b:
                break
            conn.sendall(b)
            self._count(len(b), len(b))
        conn.shutdown(socket.SHUT_WR)


class ReplyAfterEofServer(TcpServer):
    """Reads until EOF, then answers b"got <n> <sha256>\\n" and closes: it only
    answers if the client's half-close reached it and the way back stays open."""

    def __init__(self, *a, delay: float = 0.2, **kw) -> None:
        super().__init__(*a, **kw)
        self.delay = delay

    def handle(self, conn: socket.socket, index: int) -> None:
        h = hashlib.sha256()
        n = 0
        while True:
            b = conn.recv(256 * KiB)
            if not b:
                break
            h.update(b)
            n += len(b)
        self._count(n)
        time.sleep(self.delay)  # the answer clearly comes after the EOF
        msg = f"got {n} {h.hexdigest()}\n".encode()
        conn.sendall(msg)
        self._count(0, len(msg))
        conn.shutdown(socket.SHUT_WR)
        # wait for the proxy to close its side (bounded) so that our close is no RST
        conn.settimeout(5)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


class SinkServer(TcpServer):
    """Accepts and never reads nor answers; holds the connection until the peer
    closes (detected without reading: poll for POLLRDHUP) or the server stops."""

    def handle(self, conn: socket.socket, index: int) -> None:
        p = select.poll()
        p.register(conn, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        while not self._stop.is_set():
            if p.poll(100):
                return


class ResetServer(TcpServer):
    """Accepts, waits for the first bytes (up to `wait_data` seconds, 0 = don't
    wait), then closes with SO_LINGER 0 so the peer gets an RST."""

    def __init__(self, *a, wait_data: float = 2.0, **kw) -> None:
        super().__init__(*a, **kw)
        self.wait_data = wait_data
        self.reset_at: list[float] = []

    def handle(self, conn: socket.socket, index: int) -> None:
        if self.wait_data > 0:
            conn.settimeout(self.wait_data)
            try:
                b = conn.recv(65536)
                self._count(len(b))
            except socket.timeout:
                pass
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self.lock:
            self.reset_at.append(time.monotonic())


class SenderServer(TcpServer):
    """On accept, waits for one request byte (if wait_request), then sends
    `total` bytes of Pattern(seed) at most `rate` bytes/s (0 = as fast as
    possible), then closes. Records per-connection completion."""

    def __init__(self, *a, total: int = 16 * MiB, rate: float = 0, seed: int = 7,
                 wait_request: bool = True, chunk: int = 64 * KiB, **kw) -> None:
        super().__init__(*a, **kw)
        self.chunk = chunk
        self.total = total
        self.rate = rate
        self.pattern = Pattern(seed)
        self.wait_request = wait_request
        self.completed: list[int] = []

    def handle(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(60)
        if self.wait_request:
            if not conn.recv(1):
                return
            self._count(1)
        sent = 0
        t0 = time.monotonic()
        chunk = self.chunk
        while sent < self.total:
            n = min(chunk, self.total - sent)
            conn.sendall(self.pattern.chunk(sent, n))
            sent += n
            self._count(0, n)
            if self.rate > 0:
                ahead = sent / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        conn.shutdown(socket.SHUT_WR)
        with self.lock:
            self.completed.append(index)
        conn.settimeout(10)
        try:  # drain (and count) what the peer still sends, until its EOF
            while b := conn.recv(65536):
                self._count(len(b))
        except OSError:
            pass


class NeverAcceptsListener(Server):
    """A TCP address where connect() hangs (SYNs dropped), for connect timeouts.

    How: a socket listening with backlog 0 whose accept queue this object fills
    with its own connections and never accept()s. Linux then drops further SYNs
    (the accept queue is full: LISTENOVERFLOWS), so a client's connect stays in
    SYN_SENT and retries; it neither completes nor fails for >= 1 s (SYN
    retransmit timeouts 1 s, 3 s, ...). start() self-checks that a probe
    connect really hangs for 300 ms.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.address = ("127.0.0.1", self.port)
        self.endpoint = fmt_addr("127.0.0.1", self.port)
        self._fillers: list[socket.socket] = []

    def start(self) -> "NeverAcceptsListener":
        for _ in range(16):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(self.address)
            _, w, _ = select.select([], [c], [], 0.3)
            if not w:  # the queue is full: this connect hangs
                c.close()
                return self
            err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                c.close()
                raise RuntimeError(f"NeverAcceptsListener: filler connect failed: {os.strerror(err)}")
            self._fillers.append(c)
        raise RuntimeError("NeverAcceptsListener: connects still complete after 16 fillers")

    def stop(self) -> None:
        for c in self._fillers:
            c.close()
        self.sock.close()


class UdpEchoServer(Server):
    """Echoes each datagram to its sender; records every source address seen
    (in order) so tests can tell which upstream socket (session) portico used."""

    def __init__(self, family: str = "ipv4", name: str = "udp-echo") -> None:
        host = "::1" if family == "ipv6" else "127.0.0.1"
        self.name = name
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.address = (host, self.port)
        self.endpoint = fmt_addr(host, self.port)
        self.lock = threading.Lock()
        self.sources: list[tuple] = []  # (source address, payload prefix, length)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "UdpEchoServer":
        self._thread = threading.Thread(target=self._loop, daemon=True, name=self.name)
        self._thread.start()
        return self

    def _loop(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.sources.append((src, data[:32], len(data)))
            try:
                self.sock.sendto(data, src)
            except OSError:
                pass

    def sources_for(self, prefix: bytes) -> list[tuple]:
        with self.lock:
            return [s for s, d, _ in self.sources if d.startswith(prefix)]

    def lengths_for(self, prefix: bytes) -> list[int]:
        with self.lock:
            return [n for _, d, n in self.sources if d.startswith(prefix)]

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self.sock.close()


def udp_roundtrip(sock: socket.socket, dest: tuple, payload: bytes, timeout: float = 2.0) -> bytes:
    """Sends one datagram and waits for one reply (returns it) or raises TestFailure."""
    sock.settimeout(timeout)
    sock.sendto(payload, dest)
    try:
        data, _ = sock.recvfrom(65535)
    except socket.timeout:
        raise TestFailure(f"UDP: no reply within {timeout}s for a {len(payload)}-byte datagram")
    return data


# ------------------------------------------------------------------ portico --

def _listening_ports(kind: str) -> dict[int, int]:
    """{port: count} of sockets in LISTEN (tcp) or bound (udp) state, from /proc/net."""
    out: dict[int, int] = {}
    for fname in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        try:
            with open(fname) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    if kind == "tcp" and state != "0A":
                        continue
                    if kind == "udp" and parts[2].split(":")[1] != "0000":
                        continue  # connected udp sockets are not listeners
                    port = int(local.rsplit(":", 1)[1], 16)
                    out[port] = out.get(port, 0) + 1
        except FileNotFoundError:
            pass
    return out


def proc_socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(int(link[8:-1]))
    except FileNotFoundError:
        pass
    return inodes


def udp_sockets_of(pid: int) -> list[dict]:
    """The UDP sockets process pid holds: [{local_port, remote_port}]."""
    inodes = proc_socket_inodes(pid)
    res = []
    for fname in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(fname) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[9]) in inodes:
                        res.append({"local_port": int(parts[1].rsplit(":", 1)[1], 16),
                                    "remote_port": int(parts[2].rsplit(":", 1)[1], 16)})
        except FileNotFoundError:
            pass
    return res


@dataclass
class ListenerSpec:
    host: str
    port: int
    kind: str = "tcp"  # tcp | udp


class Portico:
    """One portico process: config file in a temp dir, stderr collected to a file.

    Lifecycle: start() -> wait_ready() -> ... -> stop() (SIGTERM, asserts exit 0
    and no sanitizer report). Owned by a TestContext, which always stops it.
    """

    def __init__(self, ctx: "TestContext", config: str, name: str = "portico",
                 env: dict | None = None, wrapper: str | None = None,
                 event_loop: str | None = None) -> None:
        self.ctx = ctx
        self.dir = ctx.tmpdir
        self.config_path = os.path.join(self.dir, f"{name}.yaml")
        self.stderr_path = os.path.join(self.dir, f"{name}.stderr")
        self.stdout_path = os.path.join(self.dir, f"{name}.stdout")
        self.name = name
        self.extra_env = env or {}
        self.wrapper = wrapper if wrapper is not None else ctx.wrapper
        self.event_loop = event_loop or ctx.backend
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        # Set by tests that exhaust portico's descriptors on purpose: see UNREADABLE_VPTR.
        self.out_of_descriptors = False
        self.write_config(config)

    def write_config(self, text: str) -> None:
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def command(self) -> list[str]:
        cmd = [self.ctx.portico, "-c", self.config_path]
        return ([self.wrapper] + cmd) if self.wrapper else cmd

    def start(self) -> "Portico":
        env = dict(os.environ)
        env["PORTICO_EVENT_LOOP"] = self.event_loop
        env.update(self.extra_env)
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        log(f"{self.name}: start {' '.join(self.command())} (PORTICO_EVENT_LOOP={self.event_loop})")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, env=env, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n: int = 40) -> str:
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def _fail(self, msg: str) -> None:
        raise TestFailure(f"{msg}\n--- {self.name} stderr (tail) ---\n{self.stderr_tail()}")

    def wait_ready(self, listeners: Iterable[ListenerSpec], timeout: float = 10.0,
                   backend: str | None = None) -> None:
        """Waits until every listener port is bound (TCP in LISTEN, UDP bound),
        checked in /proc/net so no test connection is spent on it; then, if
        backend is given, that the log names it (event_loop=<backend>)."""
        listeners = list(listeners)
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                self._fail(f"{self.name} exited with {self.proc.returncode} during start-up")
            tcp = _listening_ports("tcp")
            udp = _listening_ports("udp")
            missing = [l for l in listeners
                       if (tcp if l.kind == "tcp" else udp).get(l.port, 0) == 0]
            if not missing:
                break
            if time.monotonic() > deadline:
                self._fail(f"{self.name}: listeners not bound after {timeout}s: "
                           + ", ".join(f"{l.kind}:{fmt_addr(l.host, l.port)}" for l in missing))
            time.sleep(0.02)
        # With SO_REUSEPORT each worker binds its own socket; give the others a moment.
        time.sleep(0.2)
        if backend:
            self.wait_log(rf"event_loop={backend}\b", timeout=max(1.0, deadline - time.monotonic()),
                          what=f"start-up log line with event_loop={backend}")
        log(f"{self.name}: ready (pid {self.pid})")

    def wait_log(self, pattern: str, timeout: float = 5.0, start: int = 0, what: str = "") -> re.Match:
        """Waits for regex `pattern` in stderr from byte offset `start`; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr_text()[start:]
            m = rx.search(text)
            if m:
                return m
            if time.monotonic() > deadline:
                self._fail(f"{self.name}: no {what or repr(pattern)} in stderr after {timeout}s")
            if not self.alive():
                self._fail(f"{self.name} exited with {self.proc.returncode} while waiting for "
                           f"{what or repr(pattern)}")
            time.sleep(0.05)

    def log_offset(self) -> int:
        return len(self.stderr_text())

    def send_signal(self, sig: int) -> None:
        assert self.proc
        os.kill(self.proc.pid, sig)

    def reload(self, config: str, timeout: float = 5.0) -> tuple[str, str]:
        """Writes config, sends SIGHUP, waits for "reload ok" or "reload failed"
        and returns ("ok"|"failed", all stderr written since the SIGHUP)."""
        off = self.log_offset()
        self.write_config(config)
        self.send_signal(signal.SIGHUP)
        m = self.wait_log(r"reload (ok|failed)", timeout=timeout, start=off, what="'reload ok|failed'")
        time.sleep(0.2)  # let the rest of the report (error lines) reach the file
        return m.group(1), self.stderr_text()[off:]

    def status_kib(self, key: str) -> int:
        """A /proc/PID/status field in KiB (VmRSS, VmHWM, ...)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise TestFailure(f"{key} not in /proc/{self.pid}/status")

    def rss_kib(self) -> int:
        return self.status_kib("VmRSS")

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def wait_exit(self, timeout: float) -> int:
        assert self.proc
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._fail(f"{self.name} did not exit within {timeout}s")
        return self.returncode

    def check_sanitizers(self) -> None:
        text = self.stderr_text()
        if self.out_of_descriptors:
            text = UNREADABLE_VPTR.sub("", text)
        for m in SANITIZER_MARKERS:
            if m in text:
                i = text.find(m)
                raise TestFailure(f"{self.name}: sanitizer report in stderr:\n{text[max(0, i - 200):i + 3000]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Sends sig (SIGTERM) and asserts a clean exit 0 within timeout."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.send_signal(sig)
        rc = self.wait_exit(timeout)
        self._close_files()
        self.check_sanitizers()
        if rc != 0:
            self._fail(f"{self.name} exited with {rc} after {signal.Signals(sig).name} (expected 0)")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        self._close_files()

    def _close_files(self) -> None:
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()


def run_portico_cmd(ctx: "TestContext", args: list[str], timeout: float = 10.0,
                    env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs portico to completion (e.g. -t, --version) and returns the result."""
    e = dict(os.environ)
    e["PORTICO_EVENT_LOOP"] = ctx.backend
    e.update(env or {})
    cmd = ([ctx.wrapper] if ctx.wrapper else []) + [ctx.portico] + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"`{' '.join(cmd)}` did not finish within {timeout}s")


def check_config(ctx: "TestContext", text: str, want: list[str], what: str,
                 name: str = "check.yaml") -> None:
    """Writes `text` as a config and runs `portico -t` on it: with `want` empty it
    must pass; otherwise it must exit 1 with every string of `want` in stderr."""
    path = os.path.join(ctx.tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    r = run_portico_cmd(ctx, ["-t", "-c", path])
    if not want:
        check(r.returncode == 0, f"-t {what}: exit {r.returncode}: {r.stderr}")
        return
    check(r.returncode == 1, f"-t {what}: exit {r.returncode}: {r.stderr}")
    for w in want:
        check(w in r.stderr, f"-t {what}: {w!r} not in {r.stderr!r}")


# --------------------------------------------------------------- test runner --

class TestContext:
    """What a test function gets: arguments, a temp dir, and cleanup of every
    server and portico it created (portico stopped first, with assertions)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.portico_path = os.path.abspath(args.portico)
        self.portico = self.portico_path
        self.backend: str = args.backend
        self.wrapper: str | None = os.path.abspath(args.wrapper) if args.wrapper else None
        self.keep = args.keep
        self.tmpdir = tempfile.mkdtemp(prefix="portico-e2e-")
        self._servers: list[Server] = []
        self._porticos: list[Portico] = []

    def port(self, kind: str = "tcp") -> int:
        if kind == "both":
            return free_port_both()
        return free_port(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)

    def add(self, server: Server) -> Server:
        self._servers.append(server)
        return server.start()

    def portico_process(self, config: str, **kw) -> Portico:
        p = Portico(self, config, **kw)
        self._porticos.append(p)
        return p

    def start_portico(self, config: str, listeners: Iterable[ListenerSpec], name: str = "portico",
                      check_backend: bool = True, **kw) -> Portico:
        """Writes config, starts portico and waits for its listeners; asserts the
        log names the backend requested with --backend."""
        p = self.portico_process(config, name=name, **kw)
        p.start()
        p.wait_ready(listeners, backend=self.backend if check_backend else None)
        return p

    def cleanup(self, failed: bool) -> list[str]:
        """Stops everything; returns failures found while stopping."""
        problems = []
        for p in self._porticos:
            if p.proc is None or p.returncode is not None:
                try:
                    p.check_sanitizers()
                except TestFailure as e:
                    problems.append(str(e))
                continue
            try:
                if failed:
                    p.kill()
                    p.check_sanitizers()
                else:
                    p.stop()
            except TestFailure as e:
                problems.append(str(e))
                p.kill()
        for s in reversed(self._servers):
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                problems.append(f"stopping {type(s).__name__}: {e!r}")
        return problems

    def remove_tmpdir(self) -> None:
        import shutil
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def base_config(listeners: str, clusters: str = "", workers: int = 2, drain_timeout: str = "5s",
                extra: str = "", log_level: str = "info") -> str:
    """A complete config: listeners/clusters are YAML list bodies (lines starting
    with "  - "); clusters may be empty. The event loop comes from
    PORTICO_EVENT_LOOP, set by the harness."""
    cl = f"clusters:\n{clusters.rstrip()}\n" if clusters.strip() else "clusters: []\n"
    return (f"workers: {workers}\n"
            f"event_loop: auto\n"
            f"drain_timeout: {drain_timeout}\n"
            f"log: {{ level: {log_level} }}\n"
            f"admin: {{ bind: null }}\n"
            f"{extra}"
            f"listeners:\n{listeners.rstrip()}\n"
            f"{cl}")


def main(fn: Callable[[TestContext], None], description: str, deadline: float = 55.0) -> None:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--portico", required=True, help="path to the portico binary")
    ap.add_argument("--backend", required=True, choices=["io_uring", "epoll"],
                    help="event loop to request with PORTICO_EVENT_LOOP and expect in the log")
    ap.add_argument("--wrapper", help="program to run portico under (e.g. no_io_uring)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, stderr)")
    args = ap.parse_args()
    raise_nofile_limit()
    name = os.path.basename(sys.argv[0])
    if not os.access(args.portico, os.X_OK):
        print(f"FAIL {name}: portico binary not found/executable: {args.portico}", flush=True)
        sys.exit(1)
    if args.backend == "io_uring":
        ok, why = io_uring_available()
        if not ok:
            print(f"SKIP {name}: io_uring unavailable on this host ({why})", flush=True)
            sys.exit(EXIT_SKIP)

    def on_alarm(signum, frame):  # noqa: ARG001
        raise TestFailure(f"test exceeded its {deadline:.0f}s deadline")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    ctx = TestContext(args)
    log(f"{name}: {description} [backend={args.backend}{', wrapper=' + args.wrapper if args.wrapper else ''}]")
    failure = None
    rc = 0
    try:
        fn(ctx)
    except TestSkip as e:
        print(f"SKIP {name}: {e}", flush=True)
        rc = EXIT_SKIP
    except TestFailure as e:
        failure = str(e)
    except Exception:  # noqa: BLE001 - a harness/test error is a failure too
        failure = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    problems = ctx.cleanup(failed=failure is not None)
    if failure is None and problems:
        failure = "\n".join(problems)
    elif failure and problems:
        failure += "\n(also while stopping: " + "; ".join(p.splitlines()[0] for p in problems) + ")"
    if failure:
        print(f"FAIL {name} [{args.backend}]: {failure}", flush=True)
        print(f"(files kept in {ctx.tmpdir})", flush=True)
        sys.exit(1)
    if args.keep:
        print(f"(files kept in {ctx.tmpdir})")
    else:
        ctx.remove_tmpdir()
    if rc == 0:
        print(f"PASS {name} [{args.backend}]", flush=True)
    sys.exit(rc)
