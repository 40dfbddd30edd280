#!/usr/bin/env python3
"""Upstream failures reach the client promptly (< 2 s): a refused upstream
connect closes the client connection (EOF or RST); an upstream reset is passed
on as a reset (ConnectionResetError)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, ResetServer, TcpEchoServer, TestContext, base_config,  # noqa: E402
                             check, connect, connect_expect_close, echo_roundtrip, log, main)

PROMPT = 2.0


def run(t: TestContext) -> None:
    refused_port = t.port()  # nothing listens there
    reset_late = t.add(ResetServer("ipv4", wait_data=2.0, name="reset-after-data"))
    reset_now = t.add(ResetServer("ipv4", wait_data=0, name="reset-at-once"))
    echo = t.add(TcpEchoServer("ipv4"))
    pr, pl, pn, pe = t.port(), t.port(), t.port(), t.port()
    cfg = base_config(
        listeners=f"""
  - {{ name: refused, bind: "127.0.0.1:{pr}", protocol: tcp, cluster: refused, timeouts: {{ connect: 5s, idle: 30s }} }}
  - {{ name: reset_late, bind: "127.0.0.1:{pl}", protocol: tcp, cluster: reset_late, timeouts: {{ idle: 30s }} }}
  - {{ name: reset_now, bind: "127.0.0.1:{pn}", protocol: tcp, cluster: reset_now, timeouts: {{ idle: 30s }} }}
  - {{ name: echo, bind: "127.0.0.1:{pe}", protocol: tcp, cluster: echo }}
""",
        clusters=f"""
  - {{ name: refused, connect_timeout: 5s, endpoints: [ "127.0.0.1:{refused_port}" ] }}
  - {{ name: reset_late, endpoints: [ "{reset_late.endpoint}" ] }}
  - {{ name: reset_now, endpoints: [ "{reset_now.endpoint}" ] }}
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", p) for p in (pr, pl, pn, pe)])

    for i in range(3):
        # refused: the client may or may not have sent something first
        kind, dt = connect_expect_close(("127.0.0.1", pr), PROMPT, "refused upstream",
                                        send=b"hello?" if i % 2 else b"")
        log(f"refused upstream: client saw {kind} after {dt:.3f}s")
        # reset after the client's data reached the upstream
        kind, dt = connect_expect_close(("127.0.0.1", pl), PROMPT, "upstream reset after data",
                                        send=b"data that the upstream answers with RST")
        check(kind == "reset", f"upstream reset after data: client saw {kind}, expected a reset")
        log(f"upstream reset after data: client saw {kind} after {dt:.3f}s")
        # reset right after accept, before any data
        kind, dt = connect_expect_close(("127.0.0.1", pn), PROMPT, "upstream reset at accept")
        check(kind == "reset", f"upstream reset at accept: client saw {kind}, expected a reset")
        log(f"upstream reset at accept: client saw {kind} after {dt:.3f}s")
    check(reset_late.accepted == 3 and reset_now.accepted == 3,
          f"reset servers accepted {reset_late.accepted}/{reset_now.accepted}, expected 3/3")
    check(reset_late.bytes_in > 0, "the client's data never reached the resetting upstream")
    # portico still serves after all that
    with connect(("127.0.0.1", pe)) as c:
        echo_roundtrip(c, b"still alive\n")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
