#!/usr/bin/env python3
"""Splicing tcp relays: a bulk stream switches to splice(2) (counted by
portico_listener_spliced_total) and still arrives byte-exact, both ways at once,
over IPv4, IPv6 and a unix socket upstream; half-close and a reset mid-stream are
passed on as they are when copying; `splice: false` never splices; nothing leaks
(connections, pipes)."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
from ops_common import metric, ops_config, scrape  # noqa: E402
from portico_harness import (KiB, MiB, ListenerSpec, Pattern, SenderServer, TcpEchoServer,  # noqa: E402
                             TcpServer, TestContext, check, connect, log, main, recv_exact,
                             stream_through, wait_closed)


class ResetMidStream(TcpServer):
    """Sends `total` bytes after the first request byte, then resets (SO_LINGER 0)."""

    def __init__(self, *a, total: int = 8 * MiB, **kw) -> None:
        super().__init__(*a, **kw)
        self.total = total
        self.pattern = Pattern(3)

    def handle(self, conn: socket.socket, index: int) -> None:
        if not conn.recv(1):
            return
        sent = 0
        while sent < self.total:
            n = min(256 * KiB, self.total - sent)
            conn.sendall(self.pattern.chunk(sent, n))
            sent += n
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def download(port: int, total: int, pattern: Pattern, host: str = "127.0.0.1") -> socket.socket:
    """Asks a SenderServer for its stream and reads it all, byte-exact, up to its EOF."""
    s = connect((host, port))
    s.sendall(b"G")
    got = 0
    s.settimeout(20)
    while True:
        b = s.recv(1 * MiB)
        if not b:
            break
        bad = pattern.verify(got, b)
        check(bad < 0, f"download through :{port}: byte {bad} differs")
        got += len(b)
    check(got == total, f"download through :{port}: {got} of {total} bytes before EOF")
    return s


def pipes_of(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return n


def run(t: TestContext) -> None:
    total = 16 * MiB
    sender = t.add(SenderServer("ipv4", total=total, name="sender"))
    sender6 = t.add(SenderServer("ipv6", total=total, name="sender6"))
    echo = t.add(TcpEchoServer("unix", name="echo"))
    resetter = t.add(ResetMidStream("ipv4", name="resetter"))
    sp, sp6, ex, rs, cp, ap = (t.port() for _ in range(6))
    cfg = ops_config(ap, workers=1, listeners=f"""
  - {{ name: sp, bind: "127.0.0.1:{sp}", protocol: tcp, cluster: sender }}
  - {{ name: sp6, bind: "[::1]:{sp6}", protocol: tcp, cluster: sender6 }}
  - {{ name: ex, bind: "127.0.0.1:{ex}", protocol: tcp, cluster: echo, splice: true }}
  - {{ name: rs, bind: "127.0.0.1:{rs}", protocol: tcp, cluster: resetter }}
  - {{ name: cp, bind: "127.0.0.1:{cp}", protocol: tcp, cluster: sender, splice: false }}
""", clusters=f"""
  - {{ name: sender, endpoints: [ "{sender.endpoint}" ] }}
  - {{ name: sender6, endpoints: [ "{sender6.endpoint}" ] }}
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: resetter, endpoints: [ "{resetter.endpoint}" ] }}
""")
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", x) for x in (sp, ex, rs, cp, ap)] +
                        [ListenerSpec("::1", sp6)])
    pattern = Pattern(7)
    base_pipes = pipes_of(p.pid)

    def spliced(listener: str) -> float:
        return metric(scrape(ap), "portico_listener_spliced_total", listener=listener)

    # A download splices its upstream -> client direction; after the upstream's
    # EOF (passed on as EOF) the client -> upstream direction still works: the
    # sender reads what we send after its FIN, then sees our FIN.
    for port, host, name, srv in ((sp, "127.0.0.1", "sp", sender), (sp6, "::1", "sp6", sender6)):
        s = download(port, total, pattern, host)
        s.sendall(b"after")
        s.shutdown(socket.SHUT_WR)
        srv.wait_for(lambda x: x.bytes_in >= 1 + 5 and x.closed >= 1, 10, "our bytes and FIN after its EOF")
        s.close()
        check(spliced(name) == 1, f"{name}: spliced_total {spliced(name)}, want 1 (the download direction)")
        log(f"{name}: 16 MiB download spliced, byte-exact, half-close passed on")

    # Both directions at once, to a unix socket upstream: each direction of the
    # echo splices, and everything comes back in order.
    with connect(("127.0.0.1", ex)) as s:
        res = stream_through(s, 24 * MiB, pattern=pattern, timeout=60)
        how, _ = wait_closed(s, 10, "echo: EOF after the stream")
    check(res.received == 24 * MiB and how == "eof", f"echo: {res.received} bytes, then {how}")
    check(res.sha_in == pattern.sha256(24 * MiB), "echo: the bytes that came back differ")
    n = spliced("ex")
    check(n == 2, f"ex: spliced_total {n}, want 2 (both directions)")
    log("24 MiB full-duplex echo through a unix upstream, both directions spliced")

    # A reset in the middle of a spliced stream reaches the client at once.
    with connect(("127.0.0.1", rs)) as s:
        s.sendall(b"G")
        how, secs = wait_closed(s, 10, "reset mid-stream")
    check(how == "reset", f"reset mid-stream: the client saw {how}, not a reset")
    check(spliced("rs") == 1, f"rs: spliced_total {spliced('rs')}, want 1")
    log(f"upstream reset mid-stream: client reset after {secs:.2f}s")

    # splice: false copies, byte-exact too.
    s = download(cp, total, pattern)
    s.close()
    check(spliced("cp") == 0, f"cp: spliced_total {spliced('cp')} with splice: false")

    # Small exchanges never splice.
    with connect(("127.0.0.1", ex)) as s:
        s.sendall(b"ping")
        check(recv_exact(s, 4) == b"ping", "small echo")
    check(spliced("ex") == 2, "a small exchange switched to splice")

    # Nothing left: no session, and no more pipes than the worker keeps for reuse.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        samples = scrape(ap)
        if all(metric(samples, "portico_listener_connections_active", listener=x) == 0
               for x in ("sp", "sp6", "ex", "rs", "cp")):
            break
        time.sleep(0.05)
    for x in ("sp", "sp6", "ex", "rs", "cp"):
        check(metric(scrape(ap), "portico_listener_connections_active", listener=x) == 0, f"{x}: still active")
    # Five directions spliced and ended: the worker keeps at most their pipes
    # (two fds each) for reuse; the reset one may have been closed instead.
    kept = pipes_of(p.pid) - base_pipes
    check(0 <= kept <= 2 * 5, f"{kept} pipe fds more than at start after every relay ended")
    before = pipes_of(p.pid)
    for _ in range(3):
        download(sp, total, pattern).close()
    sender.wait_for(lambda x: x.active == 0, 10, "the downloads to end")
    time.sleep(0.2)
    check(pipes_of(p.pid) == before, f"pipes grew from {before} to {pipes_of(p.pid)} over 3 more relays")
    check(p.alive(), "portico exited")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], deadline=120.0)
