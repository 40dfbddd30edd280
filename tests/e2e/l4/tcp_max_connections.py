#!/usr/bin/env python3
"""limits.max_connections (per listener, across workers): with 3 established
connections the 4th is closed at once and never reaches the upstream; when one
closes, a new connection is served again. Another listener is unaffected."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, TestFailure, base_config,  # noqa: E402
                             check, connect, connect_expect_close, echo_roundtrip, log, main)

LIMIT = 3


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer("ipv4", name="echo"))
    other = t.add(TcpEchoServer("ipv4", name="other"))
    pl, po = t.port(), t.port()
    cfg = base_config(
        workers=2,
        listeners=f"""
  - {{ name: limited, bind: "127.0.0.1:{pl}", protocol: tcp, cluster: c, timeouts: {{ idle: 30s }}, limits: {{ max_connections: {LIMIT} }} }}
  - {{ name: other, bind: "127.0.0.1:{po}", protocol: tcp, cluster: o, timeouts: {{ idle: 30s }}, limits: {{ max_connections: 100 }} }}
""",
        clusters=f"""
  - {{ name: c, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: o, endpoints: [ "{other.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", pl), ListenerSpec("127.0.0.1", po)])
    held = []
    try:
        for i in range(LIMIT):
            c = connect(("127.0.0.1", pl))
            held.append(c)
            echo_roundtrip(c, f"held {i}\n".encode())
        echo.wait_for(lambda sv: sv.active == LIMIT, 2, f"{LIMIT} upstream connections")
        # several attempts: with SO_REUSEPORT they land on different workers
        for attempt in range(6):
            kind, dt = connect_expect_close(
                ("127.0.0.1", pl), 1.0, f"connection {LIMIT + 1} over max_connections={LIMIT} "
                f"(attempt {attempt})", send=b"over the limit\n")
            log(f"connection {LIMIT + 1} (attempt {attempt}): {kind} after {dt:.3f}s")
        time.sleep(0.2)
        check(echo.accepted == LIMIT, f"connections beyond the limit reached the upstream: "
                                      f"accepted {echo.accepted}, limit {LIMIT}")
        # the held ones still work
        for i, c in enumerate(held):
            echo_roundtrip(c, f"still held {i}\n".encode())
        # other listeners are not limited by this one
        others = [connect(("127.0.0.1", po)) for _ in range(LIMIT + 2)]
        try:
            for c in others:
                echo_roundtrip(c, b"other listener\n")
        finally:
            for c in others:
                c.close()
        # free one slot: a new connection is served (bounded retries: the close
        # takes a moment to reach portico)
        held.pop().close()
        echo.wait_for(lambda sv: sv.active == LIMIT - 1, 2, "the closed connection released upstream")
        deadline = time.monotonic() + 2
        while True:
            c = connect(("127.0.0.1", pl))
            try:
                echo_roundtrip(c, b"a freed slot\n", timeout=2)
                held.append(c)
                break
            except (TestFailure, OSError) as e:
                c.close()
                if time.monotonic() > deadline:
                    raise TestFailure(f"no connection served 2s after one of {LIMIT} closed: {e}")
                time.sleep(0.1)
        check(echo.active == LIMIT, f"expected {LIMIT} active upstream connections, got {echo.active}")
    finally:
        for c in held:
            c.close()


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
