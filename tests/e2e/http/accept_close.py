#!/usr/bin/env python3
"""How connections begin and end, seen through the listener metrics.

defer_accept (default on for http listeners): a client that connects and sends
nothing is never handed to portico (accepted stays 0); once it sends a request
it is accepted and served. With `defer_accept: false` the same silent client is
accepted at once.

Closing: after a `Connection: close` exchange whose request was read to its
end, portico closes its socket at once (active connections drop to 0 while the
client still holds its end open); when the client had sent more than portico
read (a second, pipelined request after `Connection: close`), portico lingers:
the connection stays active until the client closes, and the response still
arrives whole."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ops"))
from ops_common import metric, ops_config, scrape  # noqa: E402
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402


def wait_metric(ap: int, name: str, want: float, timeout: float = 3.0, **labels) -> float:
    deadline = time.monotonic() + timeout
    while True:
        v = metric(scrape(ap), name, **labels)
        if v == want or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def read_to_eof(s: socket.socket, timeout: float = 5.0) -> bytes:
    s.settimeout(timeout)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


def run(t: TestContext) -> None:
    deferred, eager, ap = t.port(), t.port(), t.port()
    route = '{ respond: { status: 200, body: "hello\\n" } }'
    cfg = ops_config(ap, workers=1, listeners=f"""
  - name: deferred
    bind: "127.0.0.1:{deferred}"
    protocol: http
    routes: [ {route} ]
  - name: eager
    bind: "127.0.0.1:{eager}"
    protocol: http
    defer_accept: false
    routes: [ {route} ]
""")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", ap)])
    accepted = "portico_listener_connections_accepted_total"
    active = "portico_listener_connections_active"

    # A silent client: not seen with defer_accept, seen at once without.
    quiet = socket.create_connection(("127.0.0.1", deferred))
    loud = socket.create_connection(("127.0.0.1", eager))
    time.sleep(0.5)
    check(metric(scrape(ap), accepted, listener="deferred") == 0,
          "defer_accept: a connection that sent nothing was handed to portico")
    check(wait_metric(ap, accepted, 1, listener="eager") == 1,
          "defer_accept: false: the silent connection was not accepted")
    quiet.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    quiet.settimeout(5)
    got = quiet.recv(4096)
    check(got.startswith(b"HTTP/1.1 200") and b"hello" in got, f"deferred connection served: {got!r}")
    check(metric(scrape(ap), accepted, listener="deferred") == 1, "the deferred connection counted once")
    quiet.close()
    loud.close()
    check(wait_metric(ap, active, 0, listener="deferred") == 0, "deferred connection still active")
    check(wait_metric(ap, active, 0, listener="eager") == 0, "eager connection still active")

    # Everything read: portico closes at once, the client's end still open.
    c = socket.create_connection(("127.0.0.1", deferred))
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resp = read_to_eof(c)
    check(resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"hello\n"), f"close response: {resp!r}")
    check(wait_metric(ap, active, 0, timeout=1.0, listener="deferred") == 0,
          "portico kept a connection whose request it had read completely (lingering for nothing)")
    c.close()

    # Unread input: a second request pipelined behind `Connection: close`.
    c = socket.create_connection(("127.0.0.1", deferred))
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
              b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
    resp = read_to_eof(c)
    check(resp.count(b"HTTP/1.1 200") == 1 and resp.endswith(b"hello\n"), f"pipelined close response: {resp!r}")
    time.sleep(0.3)
    check(metric(scrape(ap), active, listener="deferred") == 1,
          "with unread input portico must linger (keep reading) until the client closes")
    c.close()
    check(wait_metric(ap, active, 0, listener="deferred") == 0, "lingering connection not closed after the client's FIN")


if __name__ == "__main__":
    main(run, __doc__)
