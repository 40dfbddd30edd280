#!/usr/bin/env python3
"""Randomized TCP relays (fixed seed): connections mix write sizes from 1 byte to
256 KiB, pauses, a client that reads slowly, half-closes and resets; through an
echo upstream every byte comes back intact and in order, each clean end brings
EOF, and after the storm portico still relays and holds no session."""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (KiB, ListenerSpec, Pattern, TcpEchoServer, TestContext,  # noqa: E402
                             TestFailure, base_config, check, connect, echo_roundtrip, log, main,
                             run_parallel)

SEED = 20261207
CONNECTIONS = 48
PARALLEL = 8
BUDGET = 30.0  # seconds for the whole storm


def one(port: int, rnd: random.Random, kind: str, pattern: Pattern, errors: list[str]) -> None:
    """One connection of the given kind; appends what went wrong to errors."""
    s = connect(("127.0.0.1", port))
    s.settimeout(10)
    total = rnd.choice([0, 1, 100, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 300 * KiB, 2048 * KiB])
    got = bytearray()
    slow = kind == "slow"

    def reader() -> None:
        try:
            while True:
                b = s.recv(4 * KiB if slow else 256 * KiB)
                if not b:
                    return
                got.extend(b)
                if slow:
                    time.sleep(0.001)
        except OSError as e:
            if kind != "reset":
                errors.append(f"{kind}: recv after {len(got)} of {total}: {e!r}")

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    sent = 0
    try:
        while sent < total:
            n = min(total - sent, rnd.choice([1, 7, 1460, 16 * KiB, 64 * KiB, 256 * KiB]))
            s.sendall(pattern.chunk(sent, n))
            sent += n
            if rnd.random() < 0.1:
                time.sleep(rnd.random() * 0.01)
            if kind == "reset" and sent >= total // 2:
                break
        if kind == "reset":
            # RST with data possibly in flight both ways: nothing to verify but survival.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            th.join(5)
            return
        s.shutdown(socket.SHUT_WR)  # the echo upstream answers our EOF with its own
        th.join(20)
        if th.is_alive():
            errors.append(f"{kind}: no EOF after {len(got)} of {total} echoed bytes")
            return
        if len(got) != total:
            errors.append(f"{kind}: {len(got)} of {total} bytes echoed before EOF")
            return
        bad = pattern.verify(0, got)
        if bad >= 0:
            errors.append(f"{kind}: echo differs at byte {bad} of {total}")
    finally:
        s.close()


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer("ipv4", name="echo"))
    port = t.port()
    cfg = base_config(
        listeners=f'  - {{ name: t, bind: "127.0.0.1:{port}", protocol: tcp, cluster: c, '
                  f'timeouts: {{ idle: 20s }} }}',
        clusters=f'  - {{ name: c, endpoints: [ "{echo.endpoint}" ] }}',
        workers=1)
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    rnd = random.Random(SEED)
    pattern = Pattern(SEED)
    kinds = [rnd.choice(["clean", "clean", "slow", "reset"]) for _ in range(CONNECTIONS)]
    seeds = [rnd.random() for _ in range(CONNECTIONS)]

    def job(i: int) -> list[str]:
        local: list[str] = []
        try:
            one(port, random.Random(seeds[i]), kinds[i], pattern, local)
        except (OSError, TestFailure) as e:
            if kinds[i] != "reset":
                local.append(f"{kinds[i]}: {e!r}")
        return local

    errors, not_run, secs = run_parallel(CONNECTIONS, job, PARALLEL, BUDGET)
    log(f"{CONNECTIONS} connections ({', '.join(f'{k} {kinds.count(k)}' for k in sorted(set(kinds)))}) "
        f"in {secs:.1f}s")
    check(not_run == 0, f"{not_run} connections not run within {BUDGET:.0f}s")
    check(not errors, "relay errors:\n  " + "\n  ".join(errors[:10]))

    # Still relaying, and every session of the storm is gone.
    with connect(("127.0.0.1", port)) as s:
        echo_roundtrip(s, b"after the storm")
    echo.wait_for(lambda e: e.active == 0, 10, "every upstream connection of the storm to close")
    check(p.alive(), "portico exited during the storm")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], deadline=90.0)
