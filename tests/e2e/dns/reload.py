#!/usr/bin/env python3
"""Reload of the DNS server (SIGHUP): new records are served while the cache
survives (a cached upstream answer is not fetched again) and the sockets are
kept (a TCP connection opened before the reload still gets answers); a bad
zone file is refused and the running config keeps serving; listen addresses
can be added and removed; removing the dns section closes its sockets."""
import os
import socket
import struct
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, _recv_exact, build_query, dig, parse_message
from portico_harness import TestContext, _listening_ports, check, log, main


def ask_on(s: socket.socket, name: str, qid: int) -> str:
    q = build_query(name, "A", qid=qid)
    s.sendall(struct.pack("!H", len(q)) + q)
    hdr = _recv_exact(s, 2)
    check(hdr is not None, f"connection closed before the answer to {name}")
    m = parse_message(_recv_exact(s, struct.unpack("!H", hdr)[0]))
    check(m.id == qid, f"reply id {m.id} for {qid}")
    return socket.inet_ntoa(m.answers[0][3]) if m.answers else m.status


def records(ip: str) -> str:
    return f'  records: ["r.test. 60 IN A {ip}"]\n'


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("www.example.test", "A", ["192.0.2.1"])
    port = t.port("both")
    p = start_dns(t, dns_config(port, [up.endpoint], records("10.0.0.1")), port)

    check(dig(port, "www.example.test").rdatas("A") == ["192.0.2.1"], "warm-up answer")
    check(dig(port, "r.test").rdatas("A") == ["10.0.0.1"], "record before reload")
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        check(ask_on(conn, "r.test", 1) == "10.0.0.1", "tcp answer before reload")

        # 1. good reload: new record, cache kept, sockets kept
        status, report = p.reload(dns_config(port, [up.endpoint], records("10.0.0.2")))
        check(status == "ok", f"reload: {report[:800]}")
        check(dig(port, "r.test").rdatas("A") == ["10.0.0.2"], "record after reload")
        check(dig(port, "www.example.test").rdatas("A") == ["192.0.2.1"], "cached answer after reload")
        check(up.count("www.example.test") == 1, "the cache was lost on reload (query forwarded again)")
        check(ask_on(conn, "r.test", 2) == "10.0.0.2", "the TCP connection from before the reload")
        log("reload: new record served, cache and connection kept")

        # 2. bad zone file: refused, the running config keeps serving
        bad = dns_config(port, [up.endpoint], records("10.0.0.3")
                         + '  zones: [ { name: z.test, file: "/nonexistent/z.test.zone" } ]\n')
        status, report = p.reload(bad)
        check(status == "failed" and "/nonexistent/z.test.zone" in report,
              f"bad zone: expected a failed reload naming the file:\n{report[:800]}")
        check(dig(port, "r.test").rdatas("A") == ["10.0.0.2"], "after the failed reload")
        log("bad zone file refused; old config serving")
    finally:
        conn.close()

    # 3. add a listen address, then drop the first one
    port2 = t.port("both")
    two = dns_config(port, [up.endpoint], records("10.0.0.2")).replace(
        f'listen: ["127.0.0.1:{port}"]', f'listen: ["127.0.0.1:{port}", "127.0.0.1:{port2}"]')
    status, report = p.reload(two)
    check(status == "ok", f"two listen addresses: {report[:800]}")
    check(dig(port2, "r.test").rdatas("A") == ["10.0.0.2"], "the added address does not answer")
    check(dig(port, "r.test").rdatas("A") == ["10.0.0.2"], "the kept address stopped answering")
    status, report = p.reload(dns_config(port2, [up.endpoint], records("10.0.0.2")))
    check(status == "ok", f"drop first address: {report[:800]}")
    time.sleep(0.3)
    check(dig(port, "r.test", timeout=1).status == "timeout", "the removed address still answers")
    check(dig(port2, "www.example.test").rdatas("A") == ["192.0.2.1"], "second address after the change")
    log("listen addresses added and removed")

    # 4. dns section removed: its sockets close
    status, report = p.reload("workers: 1\nadmin: { bind: null }\nlog: { level: info }\n")
    check(status == "ok", f"dns removed: {report[:800]}")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (_listening_ports("udp").get(port2) or _listening_ports("tcp").get(port2)):
        time.sleep(0.05)
    check(not _listening_ports("udp").get(port2) and not _listening_ports("tcp").get(port2),
          "sockets still bound after the dns section was removed")
    log("dns section removed: sockets closed")


if __name__ == "__main__":
    main(run, "DNS server reload: records, cache kept, sockets kept, bad zone refused")
