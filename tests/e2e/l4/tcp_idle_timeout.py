#!/usr/bin/env python3
"""Idle timeout: a connection with no bytes either way for timeouts.idle (1 s)
is closed on both sides (client and upstream); traffic in either direction
keeps it alive past the timeout."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, SenderServer, SinkServer, TcpEchoServer, TestContext, TestFailure,  # noqa: E402
                             base_config, check, connect, echo_roundtrip, is_open, log, main,
                             recv_exact, wait_closed)

IDLE = 1.0
MARGIN = 1.0


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer("ipv4"))
    sink = t.add(SinkServer("ipv4", name="sink"))
    # 12 bytes at 4 B/s, one per send: 2.75 s of upstream-only traffic
    trickle = t.add(SenderServer("ipv4", total=12, rate=4, chunk=1, wait_request=False,
                                 name="trickle"))
    pe, ps, pt = t.port(), t.port(), t.port()
    cfg = base_config(
        listeners=f"""
  - {{ name: echo, bind: "127.0.0.1:{pe}", protocol: tcp, cluster: echo, timeouts: {{ idle: 1s, connect: 1s }} }}
  - {{ name: sink, bind: "127.0.0.1:{ps}", protocol: tcp, cluster: sink, timeouts: {{ idle: 1s, connect: 1s }} }}
  - {{ name: trickle, bind: "127.0.0.1:{pt}", protocol: tcp, cluster: trickle, timeouts: {{ idle: 1s, connect: 1s }} }}
""",
        clusters=f"""
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: sink, endpoints: [ "{sink.endpoint}" ] }}
  - {{ name: trickle, endpoints: [ "{trickle.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", p) for p in (pe, ps, pt)])

    # 1. idle after one echo: closed after ~1 s, on both sides
    with connect(("127.0.0.1", pe)) as c:
        echo_roundtrip(c, b"one echo, then silence\n")
        t0 = time.monotonic()
        kind, _ = wait_closed(c, IDLE + MARGIN + 1, what=f"idle timeout {IDLE}s after one echo")
        dt = time.monotonic() - t0
        log(f"idle client connection closed ({kind}) after {dt:.3f}s")
        check(dt >= IDLE - 0.15, f"closed after {dt:.3f}s, before the {IDLE}s idle timeout")
        check(dt <= IDLE + MARGIN, f"closed after {dt:.3f}s; idle timeout {IDLE}s (+{MARGIN}s)")
    echo.wait_for(lambda sv: sv.active == 0, 1.0, "the upstream side closed by the idle timeout")

    # 2. a connection that never carried a byte: closed too (upstream never reads)
    with connect(("127.0.0.1", ps)) as c:
        t0 = time.monotonic()
        kind, _ = wait_closed(c, IDLE + MARGIN + 1, what=f"idle timeout {IDLE}s, no bytes at all")
        dt = time.monotonic() - t0
        log(f"silent connection closed ({kind}) after {dt:.3f}s")
        check(IDLE - 0.15 <= dt <= IDLE + MARGIN, f"silent connection closed after {dt:.3f}s")
    sink.wait_for(lambda sv: sv.accepted == 1 and sv.active == 0, 1.0, "the sink's connection closed")

    # 3. client -> upstream traffic every 0.4 s keeps it open for 2.5 idle periods
    with connect(("127.0.0.1", pe)) as c:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5 * IDLE:
            echo_roundtrip(c, b"ping\n")
            if not is_open(c, 0.4 * IDLE):
                raise TestFailure(f"active connection closed after {time.monotonic() - t0:.2f}s")
        echo_roundtrip(c, b"still here\n")

    # 4. client -> upstream traffic only (the sink never answers nor reads)
    with connect(("127.0.0.1", ps)) as c:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5 * IDLE:
            c.sendall(b"x")
            if not is_open(c, 0.4 * IDLE):
                raise TestFailure(f"connection with client traffic closed after "
                                  f"{time.monotonic() - t0:.2f}s")

    # 5. upstream -> client traffic only (a byte every 0.25 s, the client sends nothing)
    with connect(("127.0.0.1", pt)) as c:
        data = recv_exact(c, 12, timeout=5)
        check(data == trickle.pattern.chunk(0, 12), "trickled bytes corrupted")
        kind, dt = wait_closed(c, 2)
        check(kind == "eof", f"after the trickle the client saw {kind}, expected EOF")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
