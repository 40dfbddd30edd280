#!/usr/bin/env python3
"""Half-close: a client's shutdown(SHUT_WR) reaches the upstream as EOF, and the
upstream can still answer afterwards; the reverse direction too (upstream
finishes sending while the client keeps writing)."""
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (MiB, ListenerSpec, ReplyAfterEofServer, SenderServer, TestContext,  # noqa: E402
                             base_config, check, connect, log, main, recv_exact,
                             wait_closed, Pattern)


def run(t: TestContext) -> None:
    reply = t.add(ReplyAfterEofServer("ipv4", delay=0.3, name="reply-after-eof"))
    sender = t.add(SenderServer("ipv4", total=1 * MiB, name="sender"))
    p1, p2 = t.port(), t.port()
    cfg = base_config(
        listeners=f"""
  - {{ name: up, bind: "127.0.0.1:{p1}", protocol: tcp, cluster: reply, timeouts: {{ idle: 10s }} }}
  - {{ name: down, bind: "127.0.0.1:{p2}", protocol: tcp, cluster: sender, timeouts: {{ idle: 10s }} }}
""",
        clusters=f"""
  - {{ name: reply, endpoints: [ "{reply.endpoint}" ] }}
  - {{ name: sender, endpoints: [ "{sender.endpoint}" ] }}
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", p1), ListenerSpec("127.0.0.1", p2)])

    # 1. client -> upstream EOF; the answer after EOF still reaches the client
    for size in (0, 10, 3 * MiB):
        data = Pattern(size).chunk(0, size) if size else b""
        with connect(("127.0.0.1", p1)) as c:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            t0 = time.monotonic()
            want = f"got {size} {hashlib.sha256(data).hexdigest()}\n".encode()
            got = recv_exact(c, len(want), timeout=10,
                             what=f"upstream's answer after the client's SHUT_WR ({size} bytes sent)")
            check(got == want, f"{size} bytes then SHUT_WR: upstream answered {got!r}, expected {want!r}")
            kind, _ = wait_closed(c, 5)
            check(kind == "eof", f"after the answer the client saw {kind}, expected a clean EOF")
            log(f"half-close with {size} bytes: answer after EOF arrived in {time.monotonic() - t0:.2f}s")

    # 2. upstream -> client EOF while the client's direction stays open
    with connect(("127.0.0.1", p2)) as c:
        c.sendall(b"g")
        data = recv_exact(c, 1 * MiB, timeout=10, what="1 MiB from the upstream")
        check(Pattern(7).verify(0, data) == -1, "upstream stream corrupted")
        kind, _ = wait_closed(c, 5)
        check(kind == "eof", f"upstream finished: client saw {kind}, expected EOF")
        # the client may still send: the upstream (draining until our EOF) gets it
        msg = b"still writing after the server's EOF\n"
        c.sendall(msg)
        sender.wait_for(lambda sv: sv.bytes_in >= 1 + len(msg), 5,
                        "client bytes sent after the upstream's EOF to arrive upstream")
        c.shutdown(socket.SHUT_WR)
        sender.wait_for(lambda sv: sv.active == 0, 5, "upstream closed after the client's EOF")
    check(sender.completed == [1], f"sender completed {sender.completed}")
    check(sender.bytes_in == 1 + len(msg), f"upstream received {sender.bytes_in} bytes, "
                                           f"expected {1 + len(msg)}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
