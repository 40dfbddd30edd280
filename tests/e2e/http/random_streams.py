#!/usr/bin/env python3
"""Randomized keep-alive exchanges (fixed seed): each connection pipelines a
random mix of Content-Length, chunked and small responses (0 B to 3 MiB, HEAD
included) and reads them at random speeds; some clients close or reset in the
middle of a body. Every response that a client reads to its end has the right
status and exactly the origin's bytes, in request order; afterwards portico
still serves, and no upstream connection is left half-used."""
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (KiB, MiB, ListenerSpec, Pattern, TestContext, check, log, main,  # noqa: E402
                             run_parallel)
from http_origin import ConnReader, HttpClient, HttpOrigin, http_config, read_response  # noqa: E402

SEED = 20261208
CONNECTIONS = 100
PARALLEL = 6
BUDGET = 40.0
ORIGIN_SEED = 5  # HttpOrigin's default pattern (chunked bodies)


class SlowReader:
    """A ConnReader source that sleeps a little between reads (a slow client)."""

    def __init__(self, sock: socket.socket, delay: float) -> None:
        self.sock, self.delay = sock, delay

    def recv(self, n: int) -> bytes:
        time.sleep(self.delay)
        return self.sock.recv(min(n, 16 * KiB))

    def __getattr__(self, name):
        return getattr(self.sock, name)


def plan(rnd: random.Random) -> list[tuple[str, str, int, int]]:
    """[(method, target, expected body length, body seed or -1 for the chunked pattern)]"""
    reqs = []
    for _ in range(rnd.randint(1, 6)):
        kind = rnd.choice(["big", "big", "chunked", "small", "head"])
        n = rnd.choice([0, 1, 1000, 64 * KiB - 1, 64 * KiB, 256 * KiB + 7, 1 * MiB, 3 * MiB])
        seed = rnd.randint(1, 1000)
        if kind == "big":
            reqs.append(("GET", f"/big?n={n}&seed={seed}", n, seed))
        elif kind == "head":
            reqs.append(("HEAD", f"/big?n={n}&seed={seed}", 0, seed))
        elif kind == "chunked":
            size = rnd.choice([1, 100, 4096, 65536, 200000])
            n = min(n, 200 * size)  # bounded work for the origin: at most 200 chunks
            reqs.append(("GET", f"/chunked?n={n}&size={size}", n, -1))
        else:
            reqs.append(("GET", "/status/204", 0, -2))
    return reqs


def one(port: int, rnd: random.Random, errors: list[str]) -> None:
    reqs = plan(rnd)
    ending = rnd.choice(["clean", "clean", "clean", "close", "reset"])
    slow = rnd.random() < 0.25
    c = HttpClient(("127.0.0.1", port), timeout=20)
    try:
        if slow:
            c.reader = ConnReader(SlowReader(c.sock, 0.002))
        # pipeline everything at once, or one by one
        if rnd.random() < 0.5:
            c.send(b"".join(f"{m} {t} HTTP/1.1\r\nHost: r.test\r\n\r\n".encode() for m, t, _, _ in reqs))
            pipelined = True
        else:
            pipelined = False
        cut = rnd.randrange(len(reqs)) if ending != "clean" else -1
        for i, (method, target, n, seed) in enumerate(reqs):
            if not pipelined:
                c.send(f"{method} {target} HTTP/1.1\r\nHost: r.test\r\n\r\n".encode())
            if i == cut:
                # read part of this response (it is owed, so this cannot
                # block for long unless portico stalls), then go away
                c.reader.read_some(rnd.choice([1, 100, 64 * KiB]))
                if ending == "reset":
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            r = read_response(c.reader, method, keep_body=4 * MiB)
            if r is None:
                errors.append(f"{method} {target}: connection closed before the response")
                return
            want = 204 if seed == -2 else 200
            if r.status != want:
                errors.append(f"{method} {target}: status {r.status}")
                return
            if method == "HEAD" or seed == -2:
                if r.body_len:
                    errors.append(f"{method} {target}: {r.body_len} body bytes")
                continue
            if r.body_len != n:
                errors.append(f"{target}: {r.body_len} of {n} bytes")
                return
            pat = Pattern(ORIGIN_SEED if seed == -1 else seed)
            bad = pat.verify(0, r.body)
            if bad >= 0:
                errors.append(f"{target}: body differs at byte {bad}")
                return
    finally:
        c.close()


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin", seed=ORIGIN_SEED))
    port = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ] }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ], pool: {{ max_idle: 8 }} }}')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    rnd = random.Random(SEED)
    seeds = [rnd.random() for _ in range(CONNECTIONS)]

    def job(i: int) -> list[str]:
        local: list[str] = []
        try:
            one(port, random.Random(seeds[i]), local)
        except OSError as e:
            local.append(repr(e))
        return local

    errors, not_run, secs = run_parallel(CONNECTIONS, job, PARALLEL, BUDGET)
    log(f"{CONNECTIONS} connections, {len(origin.reqs())} origin requests in {secs:.1f}s")
    check(not_run == 0, f"{not_run} connections not run within {BUDGET:.0f}s")
    check(not errors, "errors:\n  " + "\n  ".join(errors[:10]))
    check(p.alive(), "portico exited")

    # Still serving; upstream connections cut by a client went away, the rest
    # sit idle in the pool (at most max_idle).
    with HttpClient(("127.0.0.1", port), timeout=10) as c:
        r = c.request("GET", "/big?n=300000&seed=3")
        check(r.status == 200 and r.body_len == 300000 and Pattern(3).verify(0, r.body) < 0, "after the storm")
    origin.wait_for(lambda o: o.active <= 8, 10, "at most max_idle upstream connections to stay open")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], deadline=120.0)
