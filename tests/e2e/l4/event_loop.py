#!/usr/bin/env python3
"""Event loop selection: PORTICO_EVENT_LOOP overrides the config's event_loop;
with io_uring blocked by seccomp (--wrapper no_io_uring) and
PORTICO_EVENT_LOOP=auto, portico falls back to epoll, says so and serves."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, TestFailure, UdpEchoServer,  # noqa: E402
                             base_config, check, connect, echo_roundtrip, log, main, udp_roundtrip)
import socket  # noqa: E402

PROBE = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(425, 2, ctypes.create_string_buffer(120))
sys.exit(0 if fd < 0 and ctypes.get_errno() == 1 else 1)
"""


def config(port: int, uport: int, echo, uecho, event_loop: str) -> str:
    return base_config(
        listeners=f"""
  - {{ name: t, bind: "127.0.0.1:{port}", protocol: tcp, cluster: c }}
  - {{ name: u, bind: "127.0.0.1:{uport}", protocol: udp, cluster: cu }}
""",
        clusters=f"""
  - {{ name: c, endpoints: [ "{echo.endpoint}" ] }}
  - {{ name: cu, endpoints: [ "{uecho.endpoint}" ] }}
""").replace("event_loop: auto", f"event_loop: {event_loop}")


def serve_check(port: int, uport: int) -> None:
    with connect(("127.0.0.1", port)) as c:
        echo_roundtrip(c, b"hello\n")
        echo_roundtrip(c, os.urandom(1 << 20))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    try:
        check(udp_roundtrip(u, ("127.0.0.1", uport), b"udp hello") == b"udp hello", "UDP round trip")
    finally:
        u.close()


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer("ipv4"))
    uecho = t.add(UdpEchoServer("ipv4"))
    other = "epoll" if t.backend == "io_uring" else "io_uring"

    # 1. the environment overrides the config file
    port, uport = t.port(), t.port("udp")
    p = t.portico_process(config(port, uport, echo, uecho, other), name="override", wrapper="")
    p.start()
    p.wait_ready([ListenerSpec("127.0.0.1", port), ListenerSpec("127.0.0.1", uport, "udp")],
                 backend=t.backend)
    check(f"event_loop={other}" not in p.stderr_text(),
          f"config says {other}, PORTICO_EVENT_LOOP={t.backend}, but the log names {other}")
    serve_check(port, uport)
    p.stop()
    log(f"PORTICO_EVENT_LOOP={t.backend} overrode event_loop: {other}")

    # 2. io_uring blocked, auto: falls back to epoll
    if not t.wrapper:
        raise TestFailure("this test needs --wrapper PATH/no_io_uring")
    r = subprocess.run([t.wrapper, sys.executable, "-c", PROBE], timeout=10)
    check(r.returncode == 0, f"the wrapper {t.wrapper} does not make io_uring_setup fail with EPERM")
    port, uport = t.port(), t.port("udp")
    p = t.portico_process(config(port, uport, echo, uecho, "io_uring"), name="fallback",
                          wrapper=t.wrapper, event_loop="auto")
    p.start()
    p.wait_ready([ListenerSpec("127.0.0.1", port), ListenerSpec("127.0.0.1", uport, "udp")],
                 backend="epoll")
    check("event_loop=io_uring" not in p.stderr_text(), "io_uring blocked, yet the log says event_loop=io_uring")
    serve_check(port, uport)
    log("io_uring blocked by seccomp: auto fell back to epoll and serves")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
