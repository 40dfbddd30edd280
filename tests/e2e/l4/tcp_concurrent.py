#!/usr/bin/env python3
"""500 concurrent connections through portico, each echoing its own data;
all 500 are open upstream at once and all upstream sides close afterwards."""
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, TestFailure,  # noqa: E402
                             base_config, check, log, main)

N = 500


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer("ipv4", backlog=1024))
    port = t.port()
    cfg = base_config(
        listeners=f'  - {{ name: t, bind: "127.0.0.1:{port}", protocol: tcp, cluster: c, '
                  f'limits: {{ max_connections: 1000 }} }}',
        clusters=f'  - {{ name: c, endpoints: [ "{echo.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    sel = selectors.DefaultSelector()
    conns = {}
    t0 = time.monotonic()
    for i in range(N):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        msg = (f"[{i:04d}]".encode() * (1 + i % 300))  # 6 B .. 1.8 KB
        conns[s] = {"i": i, "out": msg, "want": msg, "got": bytearray(), "connected": False}
        sel.register(s, selectors.EVENT_WRITE, conns[s])
    # phase 1: every connection established and its data sent
    deadline = time.monotonic() + 20
    pending_w = N
    while pending_w:
        if time.monotonic() > deadline:
            raise TestFailure(f"{pending_w} of {N} connections not established/sent after 20s")
        for key, _ in sel.select(0.5):
            st = key.data
            s = key.fileobj
            if not st["connected"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise TestFailure(f"connection {st['i']}: connect failed: {os.strerror(err)}")
                st["connected"] = True
            n = s.send(st["out"])
            st["out"] = st["out"][n:]
            if not st["out"]:
                sel.unregister(s)  # re-registered for reading in phase 2
                pending_w -= 1
    # phase 2: every echo back complete (connections stay open)
    done = 0
    for s, st in conns.items():
        sel.register(s, selectors.EVENT_READ, st)
    deadline = time.monotonic() + 20
    while done < N:
        if time.monotonic() > deadline:
            raise TestFailure(f"only {done} of {N} echoes complete after 20s")
        for key, _ in sel.select(0.5):
            st = key.data
            s = key.fileobj
            b = s.recv(65536)
            if not b:
                raise TestFailure(f"connection {st['i']}: EOF after {len(st['got'])} of "
                                  f"{len(st['want'])} bytes")
            st["got"] += b
            if len(st["got"]) > len(st["want"]) or not st["want"].startswith(bytes(st["got"])):
                raise TestFailure(f"connection {st['i']}: echoed data differs")
            if len(st["got"]) == len(st["want"]):
                sel.unregister(s)
                done += 1
    log(f"{N} connections echoed in {time.monotonic() - t0:.2f}s; upstream max_active={echo.max_active}")
    check(echo.accepted == N, f"echo server accepted {echo.accepted} connections, expected {N}")
    check(echo.max_active == N, f"only {echo.max_active} upstream connections were open at once, "
                                f"expected {N}")
    for s in conns:
        s.close()
    sel.close()
    echo.wait_for(lambda sv: sv.active == 0, 5, "every upstream connection closed after clients closed")
    check(not echo.errors, f"echo errors: {echo.errors[:5]}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
