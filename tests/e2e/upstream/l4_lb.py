#!/usr/bin/env python3
"""L4 TCP with the cluster machinery: weighted_round_robin (1:2:3) over three
echo origins places 12 connections exactly 2/4/6; maglev on the client IP
sends every connection from 127.0.0.1 to one origin; with one origin stopped,
every new connection still works (a refused connect moves on to another
endpoint) and the tcp health check marks it down; restarted, it is up again
after `rise` checks and gets connections."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TcpEchoServer, TestContext, check, connect, echo_roundtrip, log, main  # noqa: E402
from http_origin import http_config  # noqa: E402


def run(t: TestContext) -> None:
    e = [t.add(TcpEchoServer(name=f"e{i}")) for i in range(3)]
    h = [t.add(TcpEchoServer(name=f"h{i}")) for i in range(3)]  # health-checked: own servers
    p1, p2, p3 = t.port(), t.port(), t.port()
    cfg = http_config(
        workers=1,
        listeners=f'''  - {{ name: wrr, bind: "127.0.0.1:{p1}", protocol: tcp, cluster: wrr }}
  - {{ name: mag, bind: "127.0.0.1:{p2}", protocol: tcp, cluster: mag }}
  - {{ name: hc, bind: "127.0.0.1:{p3}", protocol: tcp, cluster: hc }}''',
        clusters=f'''  - name: wrr
    lb: weighted_round_robin
    endpoints:
      - {{ address: "{e[0].endpoint}", weight: 1 }}
      - {{ address: "{e[1].endpoint}", weight: 2 }}
      - {{ address: "{e[2].endpoint}", weight: 3 }}
  - name: mag
    lb: maglev
    hash_key: client_ip
    endpoints: [ "{e[0].endpoint}", "{e[1].endpoint}", "{e[2].endpoint}" ]
  - name: hc
    endpoints: [ "{h[0].endpoint}", "{h[1].endpoint}", "{h[2].endpoint}" ]
    health_check: {{ type: tcp, interval: 300ms, timeout: 200ms, rise: 2, fall: 2 }}''')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", x) for x in (p1, p2, p3)])

    def burst(port: int, n: int, tag: bytes) -> None:
        for i in range(n):
            s = connect(("127.0.0.1", port))
            echo_roundtrip(s, tag + b"%d" % i)
            s.close()

    base = [x.accepted for x in e]
    burst(p1, 12, b"wrr")
    got = [x.accepted - b for x, b in zip(e, base)]
    log(f"wrr connections {got}")
    check(got == [2, 4, 6], f"weighted_round_robin 1:2:3 over 12 connections: {got}")

    base = [x.accepted for x in e]
    burst(p2, 9, b"mag")
    got = [x.accepted - b for x, b in zip(e, base)]
    log(f"maglev connections {got}")
    check(sorted(got) == [0, 0, 9], f"maglev on client_ip spread one client over several origins: {got}")

    victim = h[1].port
    h[1].stop()
    off = p.log_offset()
    burst(p3, 9, b"hc")  # no failure: refused connects move on
    p.wait_log(rf"cluster=hc endpoint=127\.0\.0\.1:{victim} health=down", timeout=5, start=off,
               what="the stopped echo origin marked down")
    back = t.add(TcpEchoServer(name="e1-again", port=victim))
    p.wait_log(rf"cluster=hc endpoint=127\.0\.0\.1:{victim} health=up", timeout=5, start=off,
               what="the restarted echo origin marked up")
    n0 = back.accepted
    burst(p3, 9, b"hc2")
    check(back.accepted - n0 >= 2, f"the restarted origin got {back.accepted - n0} of 9 connections")


if __name__ == "__main__":
    main(run, __doc__)
