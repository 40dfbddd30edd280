#!/usr/bin/env python3
"""Round robin: one worker spreads sequential connections evenly over an IPv4,
an IPv6 and a unix endpoint of one cluster, in a repeating order."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, base_config, check,  # noqa: E402
                             connect, echo_roundtrip, main)

ROUNDS = 4


def run(t: TestContext) -> None:
    servers = [t.add(TcpEchoServer(f, name=f"echo-{f}")) for f in ("ipv4", "ipv6", "unix")]
    port = t.port()
    eps = ", ".join(f'"{s.endpoint}"' for s in servers)
    # one worker: round-robin state is per worker, so the order is only exact with one
    cfg = base_config(
        workers=1,
        listeners=f'  - {{ name: t, bind: "127.0.0.1:{port}", protocol: tcp, cluster: c }}',
        clusters=f"  - {{ name: c, lb: round_robin, endpoints: [ {eps} ] }}")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    order = []
    for i in range(ROUNDS * len(servers)):
        before = [s.accepted for s in servers]
        with connect(("127.0.0.1", port)) as c:
            echo_roundtrip(c, f"conn {i}\n".encode())
        hit = [k for k, s in enumerate(servers) if s.accepted != before[k]]
        check(len(hit) == 1, f"connection {i}: expected exactly one endpoint used, got {hit}")
        order.append(hit[0])
    counts = [order.count(k) for k in range(len(servers))]
    check(counts == [ROUNDS] * len(servers),
          f"round robin uneven: per-endpoint counts {counts} (order {order})")
    period = order[: len(servers)]
    check(order == period * ROUNDS, f"round robin order does not repeat: {order}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
