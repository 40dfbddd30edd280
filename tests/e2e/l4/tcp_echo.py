#!/usr/bin/env python3
"""TCP echo through portico is byte-exact, small and 16 MiB payloads:
IPv4 listener to IPv4, IPv6 and unix endpoints, and an IPv6 listener [::1]."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (MiB, ListenerSpec, TcpEchoServer, TestContext, base_config, check,  # noqa: E402
                             connect, echo_roundtrip, log, main, Pattern)

SMALL = [b"x", b"hello portico\n", bytes(range(256)) * 4, os.urandom(100_000)]
BIG = 16 * MiB


def run(t: TestContext) -> None:
    e4 = t.add(TcpEchoServer("ipv4", name="echo4"))
    e6 = t.add(TcpEchoServer("ipv6", name="echo6"))
    eu = t.add(TcpEchoServer("unix", name="echou"))
    p4, p6, pu, pl6 = t.port(), t.port(), t.port(), t.port()
    cfg = base_config(
        listeners=f"""
  - {{ name: to4, bind: "127.0.0.1:{p4}", protocol: tcp, cluster: c4 }}
  - {{ name: to6, bind: "127.0.0.1:{p6}", protocol: tcp, cluster: c6 }}
  - {{ name: tou, bind: "127.0.0.1:{pu}", protocol: tcp, cluster: cu }}
  - {{ name: six, bind: "[::1]:{pl6}", protocol: tcp, cluster: c4 }}
""",
        clusters=f"""
  - {{ name: c4, endpoints: [ "{e4.endpoint}" ] }}
  - {{ name: c6, endpoints: [ {{ address: "{e6.endpoint}" }} ] }}
  - {{ name: cu, endpoints: [ "{eu.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", p) for p in (p4, p6, pu)]
                    + [ListenerSpec("::1", pl6)])
    big = Pattern(11).chunk(0, 4 * MiB) * 4  # 16 MiB, position-dependent
    check(len(big) == BIG, "test bug: big payload size")
    paths = [("127.0.0.1", p4, e4), ("127.0.0.1", p6, e6), ("127.0.0.1", pu, eu), ("::1", pl6, e4)]
    for host, port, server in paths:
        before = server.accepted
        name = f"{host}:{port} -> {server.name}"
        # several payloads on one connection, then one connection per payload
        with connect((host, port)) as s:
            for payload in SMALL:
                echo_roundtrip(s, payload)
        for payload in SMALL[:2]:
            with connect((host, port)) as s:
                echo_roundtrip(s, payload)
        with connect((host, port)) as s:
            echo_roundtrip(s, big, timeout=30)
        log(f"{name}: small payloads and 16 MiB echoed byte-exact")
        server.wait_for(lambda sv: sv.accepted == before + 4, 2, f"4 connections on {server.name}")
    # the upstream side of each closed client connection is closed too
    for server in (e4, e6, eu):
        server.wait_for(lambda sv: sv.active == 0, 3, "all upstream connections closed")
        check(not server.errors, f"{server.name} errors: {server.errors}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
