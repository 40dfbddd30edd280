#!/usr/bin/env python3
"""Slow reader: an upstream sends 64 MiB as fast as it can to a client that first
stalls, then reads slowly; portico applies backpressure (the upstream stalls too,
portico's RSS grows < 32 MiB) and every byte arrives intact."""
import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (KiB, MiB, ListenerSpec, SenderServer, TestContext, TestFailure,  # noqa: E402
                             base_config, check, log, main)

TOTAL = 64 * MiB
STALL = 3.0          # seconds the client reads nothing
RATE = 16 * MiB      # then reads at most this many bytes/s
MAX_GROWTH_KIB = 32 * 1024
MAX_UPSTREAM_AHEAD = 40 * MiB  # kernel socket buffers on loopback are a few MiB each


def run(t: TestContext) -> None:
    sender = t.add(SenderServer("ipv4", total=TOTAL, rate=0, seed=3, name="fast-sender"))
    port = t.port()
    cfg = base_config(
        listeners=f'  - {{ name: t, bind: "127.0.0.1:{port}", protocol: tcp, cluster: c, '
                  f'timeouts: {{ idle: 30s }}, limits: {{ buffer: 64KiB }} }}',
        clusters=f'  - {{ name: c, endpoints: [ "{sender.endpoint}" ] }}')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    time.sleep(0.3)
    base = p.rss_kib()
    samples = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            try:
                samples.append(p.rss_kib())
            except (OSError, TestFailure):
                return

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
    c.settimeout(10)
    try:
        c.connect(("127.0.0.1", port))
        c.sendall(b"g")
        time.sleep(STALL - 1)
        ahead1 = sender.bytes_out
        time.sleep(1)
        ahead2 = sender.bytes_out
        log(f"client stalled {STALL}s: upstream sent {ahead1 / MiB:.1f} MiB, then "
            f"{ahead2 / MiB:.1f} MiB; portico RSS {base} -> {max(samples)} KiB")
        check(ahead2 < MAX_UPSTREAM_AHEAD,
              f"no backpressure: the upstream sent {ahead2 / MiB:.1f} MiB to a client that read "
              f"nothing (limit {MAX_UPSTREAM_AHEAD / MiB:.0f} MiB)")
        check(ahead2 - ahead1 < 4 * MiB,
              f"upstream still streaming to a stalled client: {ahead1} -> {ahead2} bytes in 1s")
        h = hashlib.sha256()
        got = 0
        t0 = time.monotonic()
        while got < TOTAL:
            b = c.recv(64 * KiB)
            if not b:
                raise TestFailure(f"EOF after {got} of {TOTAL} bytes")
            h.update(b)
            got += len(b)
            ahead = got / RATE - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        c.settimeout(5)
        check(c.recv(1) == b"", "expected EOF after the 64 MiB")
    finally:
        c.close()
        stop.set()
        th.join(2)
    hwm = p.status_kib("VmHWM")
    peak = max(max(samples), hwm)
    log(f"received {TOTAL / MiB:.0f} MiB in {time.monotonic() - t0:.1f}s; portico RSS baseline "
        f"{base} KiB, sampled max {max(samples)} KiB, VmHWM {hwm} KiB")
    check(h.hexdigest() == sender.pattern.sha256(TOTAL), "the 64 MiB arrived corrupted")
    check(peak - base < MAX_GROWTH_KIB,
          f"portico RSS grew by {(peak - base) / 1024:.1f} MiB (baseline {base} KiB, peak {peak} KiB); "
          f"limit {MAX_GROWTH_KIB // 1024} MiB")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
