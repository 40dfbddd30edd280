#!/usr/bin/env python3
"""UDP listener edge cases, in a private network namespace (so the wildcard
bind exposes nothing; skipped where no namespace can be made):
- a listener bound to 0.0.0.0 answers from the address each client sent to
  (IP_PKTINFO), so a connect()ed client, which accepts nothing else, gets its
  replies;
- datagrams larger than runtime.buffer_size are dropped both ways (the
  documented bound), and the session goes on;
- an endpoint whose port is closed (ICMP port unreachable) ends the session,
  so the client's next datagram picks another endpoint instead of staying
  pinned to the dead one."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from netns_reexec import reexec_in_netns  # noqa: E402

reexec_in_netns("udp_wildcard.py")

from portico_harness import (ListenerSpec, TestContext, UdpEchoServer, base_config, check, free_port,  # noqa: E402
                             log, main)


def exchange(s: socket.socket, payload: bytes, timeout: float = 1.0) -> bytes | None:
    s.settimeout(timeout)
    s.send(payload)
    try:
        return s.recv(65535)
    except socket.timeout:
        return None


def run(t: TestContext) -> None:
    echo = t.add(UdpEchoServer("ipv4", name="udp-echo"))
    pw, pd = t.port("udp"), t.port("udp")
    dead = free_port(kind=socket.SOCK_DGRAM)
    cfg = base_config(
        listeners=f"""
  - {{ name: wild, bind: "0.0.0.0:{pw}", protocol: udp, cluster: echo, timeouts: {{ idle: 30s }} }}
  - {{ name: failover, bind: "127.0.0.1:{pd}", protocol: udp, cluster: half_dead, timeouts: {{ idle: 30s }} }}
""",
        clusters=f"""
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: half_dead, endpoints: [ "127.0.0.1:{dead}", "{echo.endpoint}" ] }}
""",
        extra="runtime: { buffer_size: 4KiB, buffers: 64 }\n")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", pw, "udp"), ListenerSpec("127.0.0.1", pd, "udp")])

    # connect()ed clients to three local addresses of the wildcard listener.
    for dest in ("127.0.0.2", "127.0.0.1", "127.0.0.3"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.connect((dest, pw))
            got = exchange(s, f"to {dest}".encode())
            check(got == f"to {dest}".encode(), f"a connected client of {dest}: reply {got!r}")
    log("UDP replies leave from the address each client sent to")

    # The buffer_size bound, both ways; the session survives it.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", pw))
        check(exchange(s, b"a" * 4096) == b"a" * 4096, "a 4096-byte datagram (= buffer_size)")
        check(exchange(s, b"b" * 4097, timeout=0.5) is None, "a 4097-byte datagram went through a 4 KiB buffer_size")
        check(exchange(s, b"small") == b"small", "the session after an oversized datagram")
    with echo.lock:
        sizes = [n for _, d, n in echo.sources if d.startswith(b"b")]
    check(sizes == [], f"the oversized datagram reached the upstream: {sizes}")

    # Round robin puts every other new session on the dead endpoint: the ICMP
    # error ends it, and a later datagram from the same client gets through.
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    try:
        for c in clients:
            c.connect(("127.0.0.1", pd))
        replies = [[exchange(c, f"try{i}".encode(), timeout=0.4) for i in range(4)] for c in clients]
    finally:
        for c in clients:
            c.close()
    for k, r in enumerate(replies):
        check(any(x is not None for x in r), f"client {k} stayed pinned to a dead UDP endpoint: {r}")
    log(f"after the dead endpoint: {replies}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
