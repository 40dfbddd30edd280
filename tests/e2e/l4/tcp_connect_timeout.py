#!/usr/bin/env python3
"""Connect timeout: against an upstream whose connect() hangs (SYNs dropped),
portico closes the client connection after timeouts.connect (1 s), not before
and not much later, and keeps serving."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, NeverAcceptsListener, TcpEchoServer, TestContext,  # noqa: E402
                             base_config, check, connect, echo_roundtrip, log, main, wait_closed)

CONNECT_TIMEOUT = 1.0
MARGIN = 1.0


def run(t: TestContext) -> None:
    black_hole = t.add(NeverAcceptsListener())
    echo = t.add(TcpEchoServer("ipv4"))
    pt, pe = t.port(), t.port()
    # the timeout is set on the listener (timeouts.connect) and on the cluster
    # (connect_timeout) alike, so either precedence gives 1 s
    cfg = base_config(
        listeners=f"""
  - {{ name: hang, bind: "127.0.0.1:{pt}", protocol: tcp, cluster: hang, timeouts: {{ connect: 1s, idle: 30s }} }}
  - {{ name: echo, bind: "127.0.0.1:{pe}", protocol: tcp, cluster: echo }}
""",
        clusters=f"""
  - {{ name: hang, connect_timeout: 1s, endpoints: [ "{black_hole.endpoint}" ] }}
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", pt), ListenerSpec("127.0.0.1", pe)])
    for i in range(2):
        with connect(("127.0.0.1", pt)) as c:
            t0 = time.monotonic()
            c.sendall(b"waiting for an upstream that never answers")
            kind, dt = wait_closed(c, CONNECT_TIMEOUT + MARGIN + 1,
                                   what=f"connect timeout {CONNECT_TIMEOUT}s to a black-hole upstream")
            dt = time.monotonic() - t0
            log(f"connect timeout: client saw {kind} after {dt:.3f}s")
            check(dt >= CONNECT_TIMEOUT - 0.15,
                  f"client closed after {dt:.3f}s, before the {CONNECT_TIMEOUT}s connect timeout")
            check(dt <= CONNECT_TIMEOUT + MARGIN,
                  f"client closed after {dt:.3f}s; connect timeout is {CONNECT_TIMEOUT}s (+{MARGIN}s margin)")
    with connect(("127.0.0.1", pe)) as c:
        echo_roundtrip(c, b"still serving\n")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
