#!/usr/bin/env python3
"""Batched UDP (dns.udp_batch: 4): bursts from several client sockets, queued in
portico's socket before it reads them, are all answered, each reply to the socket
that asked, with its own ID and the answer for its own name, both when the
burst mixes cache misses and hits (cold) and when all are hits (warm, replies
leave by sendmmsg). udp_batch outside 1..128 is refused."""
import socket
import struct
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, build_query, parse_message
from portico_harness import TestContext, check, log, main

CLIENTS = 6
PER_CLIENT = 20


def burst(port: int, names: list[str]) -> dict:
    """Every client sends PER_CLIENT queries without waiting; returns {(client, id): Message}."""
    socks = []
    for _ in range(CLIENTS):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    sent = {}
    try:
        for k in range(PER_CLIENT):
            for c, s in enumerate(socks):
                qid = 0x100 * c + k
                name = names[(c + k) % len(names)]
                s.sendto(build_query(name, qid=qid), ("127.0.0.1", port))
                sent[(c, qid)] = name
        got = {}
        deadline = time.monotonic() + 5
        while len(got) < len(sent) and time.monotonic() < deadline:
            for c, s in enumerate(socks):
                s.settimeout(0.05)
                try:
                    data = s.recvfrom(65535)[0]
                except socket.timeout:
                    continue
                m = parse_message(data)
                check((c, m.id) in sent, f"client {c} got a reply with an ID it never sent: {m.id:#x}")
                check((c, m.id) not in got, f"client {c} got two replies for ID {m.id:#x}")
                got[(c, m.id)] = m
    finally:
        for s in socks:
            s.close()
    missing = [k for k in sent if k not in got]
    check(not missing, f"{len(missing)} of {len(sent)} queries unanswered, e.g. {missing[:5]}")
    for key, m in got.items():
        name = sent[key]
        check(m.qname.rstrip(".") == name, f"reply {key} for {m.qname}, asked {name}")
        want = socket.inet_aton(f"192.0.2.{names.index(name) + 1}")
        check(m.status == "NOERROR" and [a[3] for a in m.answers] == [want],
              f"reply {key} for {name}: {m.status} {m.answers}")
    return got


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    names = [f"h{i}.example.test" for i in range(8)]
    for i, n in enumerate(names):
        up.set(n, "A", [f"192.0.2.{i + 1}"])
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint], "  udp_batch: 4\n"), port)

    burst(port, names)  # cold: misses (coalesced per name) mixed with hits
    log(f"cold burst: {CLIENTS * PER_CLIENT} queries from {CLIENTS} sockets, all answered correctly")
    forwarded = up.count()
    check(1 <= forwarded <= 3 * len(names), f"{forwarded} queries forwarded for {len(names)} names")
    burst(port, names)  # warm: every reply comes from the cache, in batches
    check(up.count() == forwarded, f"warm burst forwarded {up.count() - forwarded} queries")
    log("warm burst: all from the cache, answered correctly")

    for bad in ("0", "129"):  # the key's bounds: 1..128
        p = t.portico_process(dns_config(t.port("both"), [up.endpoint], f"  udp_batch: {bad}\n"),
                              name=f"batch{bad}")
        p.start()
        rc = p.wait_exit(10)
        err = p.stderr_text()
        check(rc not in (0, None) and "udp_batch" in err, f"udp_batch: {bad}: exit {rc}\n{err[-800:]}")
    log("udp_batch: 0 and 129 refused, naming the key")

if __name__ == "__main__":
    main(run, "batched UDP: bursts from several sockets answered, each to its sender")
