#!/usr/bin/env python3
"""DNS over TCP from clients: dig +tcp; several queries on one connection
(dig +keepopen, and raw pipelining: many length-prefixed queries in one write,
answered with matching IDs, cached and forwarded mixed); a half-closed
connection still gets its answers; an idle connection is closed after
dns.tcp_idle; a message split across writes is reassembled."""
import socket
import struct
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, build_query, dig, dig_many, parse_message, tcp_exchange, _recv_exact
from portico_harness import TestContext, check, log, main, wait_closed


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    for i in range(20):
        up.set(f"h{i}.example.test", "A", [f"192.0.2.{i + 1}"], ttl=300)
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint], "  tcp_idle: 1s\n"), port)
    addr = ("127.0.0.1", port)

    # 1. dig +tcp
    r = dig(port, "h0.example.test", tcp=True)
    check(r.status == "NOERROR" and r.rdatas("A") == ["192.0.2.1"], f"dig +tcp: {r.status} {r.answer}\n{r.output}")

    # 2. dig +tcp +keepopen: several questions on one connection
    results, out = dig_many(port, [(f"h{i}.example.test", "A") for i in range(1, 4)], extra=["+tcp", "+keepopen"])
    check(len(results) == 3, f"+keepopen: {len(results)} replies\n{out}")
    for i, res in enumerate(results, 1):
        check(res.rdatas("A") == [f"192.0.2.{i + 1}"], f"+keepopen reply {i}: {res.answer}")
    log("dig +tcp +keepopen: 3 answers")

    # 3. raw pipelining: 10 queries (cached and not) in one write
    qs = [build_query(f"h{i}.example.test", "A", qid=1000 + i) for i in range(10)]
    replies = tcp_exchange(addr, qs)
    by_id = {m.id: m for m in replies}
    check(sorted(by_id) == list(range(1000, 1010)), f"pipelined replies' IDs: {sorted(by_id)}")
    for i in range(10):
        m = by_id[1000 + i]
        ip = socket.inet_ntoa(m.answers[0][3]) if m.answers else None
        check(m.status == "NOERROR" and ip == f"192.0.2.{i + 1}", f"pipelined h{i}: {m.status} {ip}")
    check(up.count("h5.example.test") == 1, "pipelined queries forwarded more than once")
    log("10 pipelined queries on one connection answered")

    # 4. a message split across writes, then half-close: answered, then closed
    q = build_query("h12.example.test", "A", qid=77)
    with socket.create_connection(addr, timeout=5) as s:
        wire = struct.pack("!H", len(q)) + q
        s.sendall(wire[:1])
        time.sleep(0.1)
        s.sendall(wire[1:9])
        time.sleep(0.1)
        s.sendall(wire[9:])
        s.shutdown(socket.SHUT_WR)
        hdr = _recv_exact(s, 2)
        check(hdr is not None, "split query: no reply")
        m = parse_message(_recv_exact(s, struct.unpack("!H", hdr)[0]))
        check(m.id == 77 and socket.inet_ntoa(m.answers[0][3]) == "192.0.2.13", f"split query reply: {m}")
        kind, _ = wait_closed(s, 3, "half-closed connection after its answer")
    log(f"split message reassembled; half-closed connection answered then closed ({kind})")

    # 5. idle connection closed after tcp_idle (1 s)
    with socket.create_connection(addr, timeout=5) as s:
        t0 = time.monotonic()
        kind, took = wait_closed(s, 5, "idle DNS TCP connection")
        took = time.monotonic() - t0
    check(0.8 <= took <= 3.0, f"idle connection closed after {took:.2f}s (tcp_idle 1s)")
    log(f"idle connection closed after {took:.2f}s")

    # 6. a connection that keeps asking stays open past tcp_idle
    with socket.create_connection(addr, timeout=5) as s:
        for i in range(4):
            q = build_query("h0.example.test", "A", qid=500 + i)
            s.sendall(struct.pack("!H", len(q)) + q)
            hdr = _recv_exact(s, 2)
            check(hdr is not None, f"active connection closed at query {i}")
            m = parse_message(_recv_exact(s, struct.unpack("!H", hdr)[0]))
            check(m.id == 500 + i, f"active connection: reply id {m.id}")
            time.sleep(0.5)
    log("active connection kept past tcp_idle")


if __name__ == "__main__":
    main(run, "DNS over TCP: dig +tcp, +keepopen, pipelining, split messages, idle timeout")
