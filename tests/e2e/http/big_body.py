#!/usr/bin/env python3
"""Big bodies: a 256 MiB request body streamed up and a 256 MiB response body
streamed down through portico arrive intact (SHA-256 at the far end), and a
client that stops reading holds the origin back, while portico's RSS grows
by less than 48 MiB (sampled from /proc, and VmHWM)."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import KiB, MiB, ListenerSpec, Pattern, TestContext, TestFailure, check, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402

TOTAL = 256 * MiB
MAX_GROWTH_KIB = 48 * 1024


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin", seed=21))
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ], '
                  f'limits: {{ body: 1GiB }}, timeouts: {{ idle: 30s }} }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ], response_timeout: 40s }}')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port), timeout=40) as c:  # warm up the pool and buffers
        check(c.request("POST", "/sink", body=b"x" * 100000).status == 200, "warm-up request")
    time.sleep(0.2)
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
    pat = Pattern(33)
    try:
        with HttpClient(("127.0.0.1", port), timeout=40) as c:
            t0 = time.monotonic()
            c.send(f"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n".encode())
            off = 0
            while off < TOTAL:
                n = min(4 * MiB, TOTAL - off)
                c.send(pat.chunk(off, n))
                off += n
            r = c.response()
            check(r is not None and r.status == 200, f"upload: {r and r.status}")
            got = r.json()
            check(got["len"] == TOTAL, f"upload: origin got {got['len']} of {TOTAL} bytes")
            check(got["sha256"] == pat.sha256(TOTAL), "upload: the 256 MiB arrived corrupted")
            log(f"upload of 256 MiB: {time.monotonic() - t0:.1f}s")
            t0 = time.monotonic()
            r = c.request("GET", f"/big?n={TOTAL}&seed=34", )
            check(r.status == 200, f"download: {r.status}")
            check(r.body_len == TOTAL, f"download: {r.body_len} of {TOTAL} bytes")
            check(r.body_sha == Pattern(34).sha256(TOTAL), "download: the 256 MiB arrived corrupted")
            log(f"download of 256 MiB: {time.monotonic() - t0:.1f}s")
        # A client that stops reading: the origin is held back too.
        with HttpClient(("127.0.0.1", port), timeout=40) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
            out0 = origin.bytes_out
            c.send(f"GET /big?n={256 * MiB}&seed=35 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(2)
            ahead = origin.bytes_out - out0
            # What the kernel alone may absorb: portico's upstream receive buffer
            # (autotuned up to tcp_rmem max), the origin's send buffer and portico's
            # client-side send buffer (tcp_wmem max each); plus 16 MiB for portico.
            rmem_max = int(open("/proc/sys/net/ipv4/tcp_rmem").read().split()[2])
            wmem_max = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
            bound = rmem_max + 2 * wmem_max + 16 * MiB
            log(f"client stalled 2s: the origin sent {ahead / MiB:.1f} MiB of 256 MiB (bound {bound / MiB:.0f} MiB)")
            check(ahead < bound, f"no back-pressure: the origin sent {ahead / MiB:.1f} MiB to a stalled client")
            r = c.response()
            check(r is not None and r.body_len == 256 * MiB and r.body_sha == Pattern(35).sha256(256 * MiB),
                  "the 256 MiB after the stall arrived incomplete or corrupted")
    finally:
        stop.set()
        th.join(2)
    hwm = p.status_kib("VmHWM")
    peak = max(max(samples), hwm)
    log(f"portico RSS baseline {base} KiB, sampled max {max(samples)} KiB, VmHWM {hwm} KiB")
    check(peak - base < MAX_GROWTH_KIB,
          f"portico RSS grew by {(peak - base) / 1024:.1f} MiB (baseline {base} KiB, peak {peak} KiB); "
          f"limit {MAX_GROWTH_KIB // 1024} MiB: bodies are buffered, not streamed")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
