#!/usr/bin/env python3
"""UDP: datagrams round-trip byte-exact; each client address gets its own
upstream socket (session); a session idle for timeouts.idle expires (the next
datagram arrives upstream from a new source port); sessions are bounded by
limits.udp_sessions."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TestContext, UdpEchoServer, base_config, check, log,  # noqa: E402
                             main, udp_roundtrip, udp_sockets_of)

IDLE = 1.0
MAX_SESSIONS = 4


def client() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def run(t: TestContext) -> None:
    echo = t.add(UdpEchoServer("ipv4", name="udp-echo4"))
    echo6 = t.add(UdpEchoServer("ipv6", name="udp-echo6"))
    pu, pl = t.port("udp"), t.port("udp")
    cfg = base_config(
        listeners=f"""
  - {{ name: u, bind: "127.0.0.1:{pu}", protocol: udp, cluster: cu, timeouts: {{ idle: 1s }}, limits: {{ udp_sessions: 100 }} }}
  - {{ name: small, bind: "127.0.0.1:{pl}", protocol: udp, cluster: c6, timeouts: {{ idle: 30s }}, limits: {{ udp_sessions: {MAX_SESSIONS} }} }}
""",
        clusters=f"""
  - {{ name: cu, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: c6, endpoints: [ "{echo6.endpoint}" ] }}
""")
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", pu, "udp"), ListenerSpec("127.0.0.1", pl, "udp")])
    dest = ("127.0.0.1", pu)

    # 1. round trips of several sizes, byte-exact, one session
    a = client()
    for size in (1, 100, 1400, 8000):
        payload = b"A" + os.urandom(size - 1)
        got = udp_roundtrip(a, dest, payload)
        check(got == payload, f"{size}-byte datagram came back different ({len(got)} bytes)")
    ports_a = {src[1] for src in echo.sources_for(b"A")}
    check(len(ports_a) == 1, f"one client address used {len(ports_a)} upstream source ports: {ports_a}")
    log(f"client A: 4 datagrams, one upstream source port {ports_a}")

    # 2. a second client address gets its own session (upstream source port)
    b = client()
    check(udp_roundtrip(b, dest, b"B1") == b"B1", "client B round trip")
    ports_b = {src[1] for src in echo.sources_for(b"B")}
    check(len(ports_b) == 1 and not (ports_b & ports_a),
          f"client B's upstream port(s) {ports_b} not distinct from client A's {ports_a}")

    # 3. traffic within the idle timeout keeps the session; after idle it expires
    for i in range(4):
        time.sleep(IDLE * 0.4)
        check(udp_roundtrip(a, dest, b"A-keep%d" % i) == b"A-keep%d" % i, "client A keep-alive round trip")
    ports_a2 = {src[1] for src in echo.sources_for(b"A")}
    check(ports_a2 == ports_a, f"session of an active client changed its upstream port: {ports_a} -> {ports_a2}")
    time.sleep(IDLE + 1.0)
    check(udp_roundtrip(a, dest, b"A-after-idle") == b"A-after-idle", "client A round trip after idle")
    after = echo.sources_for(b"A-after-idle")
    check(len(after) == 1, f"expected one datagram upstream, saw {after}")
    log(f"client A after {IDLE + 1.0:.1f}s idle: upstream source port {ports_a} -> {after[0][1]}")
    check(after[0][1] not in ports_a,
          f"session did not expire: after {IDLE + 1.0:.1f}s idle the upstream source port is still "
          f"{after[0][1]}")
    a.close()
    b.close()

    # 4. at most MAX_SESSIONS sessions (upstream sockets) on the small listener
    clients = [client() for _ in range(MAX_SESSIONS + 6)]
    answered = 0
    for i, c in enumerate(clients):
        c.settimeout(0.5)
        c.sendto(b"S%d" % i, ("127.0.0.1", pl))
    for i, c in enumerate(clients):
        try:
            data, _ = c.recvfrom(100)
            answered += data == b"S%d" % i
        except socket.timeout:
            pass
    time.sleep(0.2)
    upstream_socks = [u for u in udp_sockets_of(p.pid) if u["remote_port"] == echo6.port]
    seen_ports = {src[1] for src in echo6.sources_for(b"S")}
    log(f"{len(clients)} clients on a listener with udp_sessions={MAX_SESSIONS}: {answered} answered, "
        f"{len(seen_ports)} upstream ports seen, {len(upstream_socks)} connected upstream sockets open")
    check(answered >= 1, "no client got an answer from the session-limited listener")
    check(len(upstream_socks) <= MAX_SESSIONS,
          f"{len(upstream_socks)} upstream UDP sockets open, udp_sessions is {MAX_SESSIONS}")
    all_udp = udp_sockets_of(p.pid)
    listeners = [u for u in all_udp if u["local_port"] in (pu, pl) and u["remote_port"] == 0]
    sessions = [u for u in all_udp if u not in listeners]
    check(len(sessions) <= MAX_SESSIONS + 1,  # + client A's new session on the other listener
          f"portico holds {len(sessions)} non-listener UDP sockets: {sessions}")
    for c in clients:
        c.close()
    # 5. a 65000-byte datagram may exceed portico's datagram buffer: then it may be
    #    dropped, but never forwarded truncated
    g = client()
    big = b"G" + os.urandom(64999)
    g.settimeout(1.0)
    g.sendto(big, dest)
    try:
        got, _ = g.recvfrom(65535)
        check(got == big, f"65000-byte datagram came back as {len(got)} different bytes (truncated?)")
    except socket.timeout:
        log("65000-byte datagram dropped (allowed)")
    sizes = echo.lengths_for(big[:32])
    check(all(n == len(big) for n in sizes), f"65000-byte datagram reached the upstream as {sizes} bytes")
    g.close()

    # the first listener still serves
    d = client()
    check(udp_roundtrip(d, dest, b"D") == b"D", "round trip after the session-limit test")
    d.close()


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
