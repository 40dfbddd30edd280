#!/usr/bin/env python3
"""SIGTERM drain: a 16 MiB transfer in flight through a slow-ish upstream
completes intact after SIGTERM, new connections are refused meanwhile, and
portico exits 0 once the transfer is done (not before)."""
import hashlib
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (MiB, ListenerSpec, SenderServer, TcpEchoServer, TestContext,  # noqa: E402
                             TestFailure, base_config, check, connect, echo_roundtrip, log, main)

TOTAL = 16 * MiB
RATE = 4 * MiB  # ~4 s transfer


def run(t: TestContext) -> None:
    slow = t.add(SenderServer("ipv4", total=TOTAL, rate=RATE, seed=5, name="slow-sender"))
    echo = t.add(TcpEchoServer("ipv4"))
    ps, pe = t.port(), t.port()
    cfg = base_config(
        drain_timeout="20s",
        listeners=f"""
  - {{ name: slow, bind: "127.0.0.1:{ps}", protocol: tcp, cluster: slow, timeouts: {{ idle: 30s }} }}
  - {{ name: echo, bind: "127.0.0.1:{pe}", protocol: tcp, cluster: echo, timeouts: {{ idle: 30s }} }}
""",
        clusters=f"""
  - {{ name: slow, endpoints: [ "{slow.endpoint}" ] }}
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
""")
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", ps), ListenerSpec("127.0.0.1", pe)])

    result = {"got": 0, "sha": "", "error": None, "done_at": None}
    c = connect(("127.0.0.1", ps), timeout=20)

    def reader() -> None:
        h = hashlib.sha256()
        try:
            c.sendall(b"g")
            while True:
                b = c.recv(1 * MiB)
                if not b:
                    break
                h.update(b)
                result["got"] += len(b)
        except OSError as e:
            result["error"] = repr(e)
        result["sha"] = h.hexdigest()
        result["done_at"] = time.monotonic()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    # an idle connection open too: drain lets it be (up to drain_timeout) or closes it; either way
    idle = connect(("127.0.0.1", pe))
    echo_roundtrip(idle, b"idle during drain\n")
    deadline = time.monotonic() + 5
    while result["got"] < 2 * MiB:
        if time.monotonic() > deadline or result["done_at"]:
            raise TestFailure(f"transfer did not get going: {result}")
        time.sleep(0.02)
    check(result["got"] < TOTAL // 2, f"test bug: transfer too fast ({result['got']} bytes already)")
    term_at = time.monotonic()
    p.send_signal(signal.SIGTERM)
    log(f"SIGTERM sent with {result['got'] / MiB:.1f} of {TOTAL / MiB:.0f} MiB transferred")

    # new connections are refused within 1 s (the transfer is still running)
    refused_after = None
    deadline = term_at + 1.0
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", ps), timeout=0.5)
            s.close()
        except ConnectionRefusedError:
            refused_after = time.monotonic() - term_at
            break
        time.sleep(0.05)
    check(refused_after is not None, "new connections still accepted 1s after SIGTERM")
    check(result["done_at"] is None, "test bug: transfer finished before the listener check")
    log(f"new connections refused {refused_after:.3f}s after SIGTERM")
    for port in (ps, pe):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            raise TestFailure(f"listener 127.0.0.1:{port} accepts connections during drain")
        except ConnectionRefusedError:
            pass

    # portico stays up while the transfer runs, and the transfer completes
    deadline = time.monotonic() + 20
    while result["done_at"] is None:
        if time.monotonic() > deadline:
            raise TestFailure(f"transfer still running 20s after SIGTERM ({result['got']} bytes)")
        if not p.alive():
            th.join(1)
            raise TestFailure(f"portico exited (rc {p.proc.returncode}) during drain with the transfer "
                              f"in flight ({result['got']} of {TOTAL} bytes received)")
        time.sleep(0.02)
    check(result["error"] is None, f"transfer failed during drain: {result['error']}")
    check(result["got"] == TOTAL, f"transfer cut short by the drain: {result['got']} of {TOTAL} bytes")
    check(result["sha"] == slow.pattern.sha256(TOTAL), "transfer corrupted during drain")
    log(f"transfer completed {result['done_at'] - term_at:.2f}s after SIGTERM")
    # the client got EOF; it closes its side (and the idle one), then portico is done
    c.close()
    idle.close()
    rc = p.wait_exit(10)
    p.check_sanitizers()
    check(rc == 0, f"portico exited with {rc} after SIGTERM drain, expected 0")
    log(f"portico exited 0, {time.monotonic() - term_at:.2f}s after SIGTERM")

if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
