#!/usr/bin/env python3
"""UDP listeners across reloads, and empty datagrams: a UDP listener added by
a reload serves; removing it by a reload while it has a session, then
draining, exits cleanly (the session outlived its listener's shared state:
once a use after free); an empty datagram goes both ways and keeps its
session (the next datagram leaves from the same upstream port)."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, UdpEchoServer, base_config, check,  # noqa: E402
                             log, main, udp_roundtrip)


def run(t: TestContext) -> None:
    echo = t.add(UdpEchoServer("ipv4", name="udp-echo"))
    tcp_echo = t.add(TcpEchoServer(name="tcp-echo"))
    pu, pt = t.port("udp"), t.port()

    def cfg(udp: bool, tcp: bool) -> str:
        ls = ""
        if udp:
            ls += f'  - {{ name: u, bind: "127.0.0.1:{pu}", protocol: udp, cluster: cu, timeouts: {{ idle: 30s }} }}\n'
        if tcp:
            ls += f'  - {{ name: t, bind: "127.0.0.1:{pt}", protocol: tcp, cluster: ct }}\n'
        return base_config(listeners="\n" + ls, clusters=f"""
  - {{ name: cu, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: ct, endpoints: [ "{tcp_echo.endpoint}" ] }}
""")

    p = t.start_portico(cfg(False, True), [ListenerSpec("127.0.0.1", pt)])
    status, text = p.reload(cfg(True, True))
    check(status == "ok", f"reload adding the UDP listener: {status}\n{text}")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    dest = ("127.0.0.1", pu)
    check(udp_roundtrip(c, dest, b"one") == b"one", "UDP listener added by a reload")

    # An empty datagram both ways, in the same session.
    check(udp_roundtrip(c, dest, b"") == b"", "an empty datagram came back non-empty")
    check(udp_roundtrip(c, dest, b"two") == b"two", "the datagram after an empty one")
    with echo.lock:
        seen = {src for src, _, _ in echo.sources}
    check(len(seen) == 1, f"the empty datagram ended the session: upstream sources {sorted(seen)}")
    log("empty datagrams relayed both ways")

    # Remove the TCP listener, then the UDP one (with its session), then drain.
    status, text = p.reload(cfg(True, False))
    check(status == "ok", f"reload removing the TCP listener: {status}\n{text}")
    check(udp_roundtrip(c, dest, b"three") == b"three", "UDP after the TCP listener went")
    status, text = p.reload(cfg(False, True))
    check(status == "ok", f"reload removing the UDP listener: {status}\n{text}")
    p.send_signal(signal.SIGTERM)
    rc = p.wait_exit(15)
    check(rc == 0, f"drain after removing a UDP listener with a session: exit {rc}")
    log("a UDP listener removed with a live session: clean exit")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
