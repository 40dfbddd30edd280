#!/usr/bin/env python3
"""Upstreams that fail without a usable reply, seen through dig. Each case
must end well before upstream_timeout (4 s here; dig gives up after 2 s):
- a UDP upstream port where nothing listens (ICMP port unreachable): the
  only upstream gives SERVFAIL at once; beside a working one, every query is
  answered;
- an empty datagram before the real reply does not stop portico listening;
- a TCP upstream (after a truncated UDP reply) that closes without answering:
  SERVFAIL at once;
- a reply still truncated over TCP is not passed on as an empty NOERROR.
Also questions no server answers (TYPE 0, CLASS CH) are refused without
reaching the upstream, and a client dribbling a TCP query more slowly than
one message per tcp_idle is closed (slowloris)."""
import select
import socket
import struct
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, build_query, dig, udp_exchange
from portico_harness import TestContext, check, free_port, log, main


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    for i in range(6):
        up.set(f"h{i}.example.test", "A", [f"192.0.2.{i + 1}"], ttl=300)
    up.set("empty.example.test", "A", ["192.0.2.50"], ttl=300)
    up.empty_first.add("empty.example.test.")
    up.tc_names.update({"tctc.example.test.", "tcpclose.example.test."})
    up.tcp_tc_names.add("tctc.example.test.")
    up.tcp_close_names.add("tcpclose.example.test.")
    dead = f"127.0.0.1:{free_port(kind=socket.SOCK_DGRAM)}"
    extra = "  upstream_timeout: 4s\n  tcp_idle: 1s\n"

    # Only a dead upstream: SERVFAIL at once, not after 4 s.
    p1 = t.port("both")
    start_dns(t, dns_config(p1, [dead], extra), p1, name="portico-dead")
    t0 = time.monotonic()
    r = dig(p1, "h0.example.test")
    check(r.status == "SERVFAIL", f"dead upstream only: {r.status} after {time.monotonic() - t0:.2f}s\n{r.output}")

    # A dead upstream beside a working one: every query answered.
    p2 = t.port("both")
    start_dns(t, dns_config(p2, [dead, up.endpoint], extra), p2, name="portico-mixed")
    for i in range(6):
        r = dig(p2, f"h{i}.example.test")
        check(r.status == "NOERROR" and r.rdatas("A") == [f"192.0.2.{i + 1}"],
              f"dead + working upstream, h{i}: {r.status} {r.answer}\n{r.output}")
    log("a dead UDP upstream costs no timeout")

    # An empty datagram first, the reply 100 ms later.
    r = dig(p2, "empty.example.test")
    check(r.status == "NOERROR" and r.rdatas("A") == ["192.0.2.50"], f"empty datagram first: {r.status} {r.answer}")

    # Over TCP: closed without a reply, or still truncated. Only the working
    # upstream is asked (over UDP the dead one fails at once either way).
    p3 = t.port("both")
    start_dns(t, dns_config(p3, [up.endpoint], extra), p3, name="portico-tcp")
    r = dig(p3, "tcpclose.example.test")
    check(r.status == "SERVFAIL", f"TCP upstream closing without a reply: {r.status}\n{r.output}")
    r = dig(p3, "tctc.example.test")
    check(r.status == "SERVFAIL", f"reply truncated over TCP too: {r.status} {r.answer}\n{r.output}")
    check(up.count("tctc.example.test", transport="tcp") >= 1, "the truncated reply was not retried over TCP")
    log("TCP upstream failures answered at once")

    # Questions no server answers: refused here, never forwarded.
    before = up.count()
    for qtype, want in ((0, "FORMERR"), ("A", None)):
        q = build_query("h0.example.test", qtype, qid=0x6161)
        if want is None:  # CLASS CH instead of IN
            q = q[:-2] + struct.pack("!H", 3)
            want = "REFUSED"
        m = udp_exchange(("127.0.0.1", p3), q)
        check(m is not None and m.id == 0x6161 and m.status == want, f"type {qtype}: {m and m.status}, want {want}")
    check(up.count() == before, f"{up.count() - before} refused question(s) reached the upstream")

    # Slowloris: one byte every 0.3 s of a 30-odd-byte query; tcp_idle is 1 s.
    # The connection must close while the bytes are still coming (without the
    # rule every byte would count as activity and it would stay open).
    q = build_query("h1.example.test", "A", qid=5)
    wire = struct.pack("!H", len(q)) + q
    closed_at = None
    with socket.create_connection(("127.0.0.1", p3), timeout=5) as s:
        t0 = time.monotonic()
        for b in wire[:-1]:
            if time.monotonic() - t0 > 4:
                break
            try:
                s.sendall(bytes([b]))
                time.sleep(0.3)
                readable, _, _ = select.select([s], [], [], 0)
                if readable and s.recv(1) == b"":
                    closed_at = time.monotonic() - t0
                    break
            except OSError:
                closed_at = time.monotonic() - t0
                break
    check(closed_at is not None, "a client dribbling one query byte per 0.3 s kept its connection for 4 s (tcp_idle 1s)")
    log(f"slowloris client closed after {closed_at:.1f}s")
    r = dig(p3, "h2.example.test", tcp=True)
    check(r.status == "NOERROR", f"TCP after the slowloris client: {r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
