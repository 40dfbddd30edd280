#!/usr/bin/env python3
"""Malformed packets: a corpus of broken DNS messages sent raw over UDP (and a
few over TCP). Each is answered with the expected error (FORMERR, NOTIMP,
REFUSED, BADVERS) carrying the query's ID, or dropped when there is nothing to
answer (shorter than a header, QR set); random and mutated packets get either
nothing or a well-formed reply with their ID. Afterwards portico still
answers, and it exits cleanly (no sanitizer report)."""
import random
import socket
import struct
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, build_query, dig, encode_name, parse_message, tcp_exchange
from portico_harness import TestContext, check, log, main

DROP = "drop"


def hdr(qid: int, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


Q = encode_name("www.example.test") + struct.pack("!HH", 1, 1)
OPT = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)

CORPUS = [
    # (what, packet, expected status or DROP)
    ("empty datagram", b"", DROP),
    ("one byte", b"\x12", DROP),
    ("11 bytes", b"\x12\x34" + b"\0" * 9, DROP),
    ("QR set (a response)", hdr(0x0102, flags=0x8100) + Q, DROP),
    ("no question", hdr(0x0103, qd=0), "FORMERR"),
    ("two questions", hdr(0x0104, qd=2) + Q + Q, "FORMERR"),
    ("QDCOUNT 1, no bytes", hdr(0x0105), "FORMERR"),
    ("question cut in the type", hdr(0x0106) + encode_name("www.example.test") + b"\x00", "FORMERR"),
    ("compression loop", hdr(0x0107) + b"\xc0\x0c" + struct.pack("!HH", 1, 1), "FORMERR"),
    ("pointer past the end", hdr(0x0108) + b"\xc0\xff" + struct.pack("!HH", 1, 1), "FORMERR"),
    ("label of 64 bytes", hdr(0x0109) + b"\x40" + b"a" * 64 + b"\0" + struct.pack("!HH", 1, 1), "FORMERR"),
    ("name over 255 bytes", hdr(0x010a) + (b"\x3f" + b"a" * 63) * 5 + b"\0" + struct.pack("!HH", 1, 1), "FORMERR"),
    ("label runs past the end", hdr(0x010b) + b"\x20abc", "FORMERR"),
    ("ANCOUNT claims records", hdr(0x010c, an=3) + Q, "FORMERR"),
    ("ARCOUNT, OPT cut short", hdr(0x010d, ar=1) + Q + b"\0\x00\x29", "FORMERR"),
    ("OPT rdlen past the end", hdr(0x010e, ar=1) + Q + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 50), "FORMERR"),
    ("two OPT records", hdr(0x010f, ar=2) + Q + OPT + OPT, "FORMERR"),
    ("opcode STATUS", hdr(0x0110, flags=(2 << 11) | 0x0100) + Q, "NOTIMP"),
    ("opcode UPDATE", hdr(0x0111, flags=(5 << 11)) + Q, "NOTIMP"),
    ("EDNS version 1", hdr(0x0112, ar=1) + Q + b"\0" + struct.pack("!HHIH", 41, 1232, 0x00010000, 0), "BADVERS"),
    ("AXFR over UDP", hdr(0x0113) + encode_name("example.test") + struct.pack("!HH", 252, 1), "REFUSED"),
    ("5000-byte query", hdr(0x0114, ar=1) + Q + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4970) + b"\0" * 4970,
     "FORMERR"),
    ("trailing garbage 60 KB", hdr(0x0115) + Q + b"\xff" * 60000, "FORMERR"),
]


def status_of(m) -> str:
    # BADVERS is extended RCODE 16: upper bits in the OPT TTL, lower 4 bits (0) in the header
    for name, t, ttl, _ in m.additional:
        if t == 41 and (ttl >> 24) == 1 and m.rcode == 0:
            return "BADVERS"
    return m.status


def exchange(port: int, packet: bytes, wait: float) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.set("www.example.test", "A", ["192.0.2.1"])
    port = t.port("both")
    start_dns(t, dns_config(port, [up.endpoint], "  upstream_timeout: 200ms\n"), port)

    # 1. the fixed corpus, one by one
    for what, packet, expect in CORPUS:
        data = exchange(port, packet, 0.4 if expect == DROP else 2.0)
        if expect == DROP:
            if data is not None:
                check(False, f"{what}: expected no reply, got {data[:40]!r}")
            continue
        check(data is not None, f"{what}: no reply (expected {expect})")
        m = parse_message(data)
        qid = struct.unpack("!H", packet[:2])[0]
        check(m.qr and m.id == qid, f"{what}: reply id {m.id:#x} qr={m.qr} (expected id {qid:#x})")
        check(status_of(m) == expect, f"{what}: status {status_of(m)} (expected {expect})")
    log(f"fixed corpus: {len(CORPUS)} packets answered or dropped as expected")

    # 2. random and mutated packets in bursts: any reply is well-formed with the packet's ID
    rnd = random.Random(20240601)
    valid = build_query("www.example.test", "A", qid=0x4444, edns=1232)
    packets = [rnd.randbytes(rnd.randrange(0, 600)) for _ in range(300)]
    for i in range(300):
        b = bytearray(valid)
        b[0:2] = struct.pack("!H", 0x5000 + i)
        for _ in range(rnd.randrange(1, 6)):
            b[rnd.randrange(2, len(b))] = rnd.randrange(256)
        packets.append(bytes(b[: rnd.randrange(12, len(b) + 1)]))
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sent_ids = {struct.unpack("!H", p[:2])[0] for p in packets if len(p) >= 2}
        for n, p in enumerate(packets):
            s.sendto(p, ("127.0.0.1", port))
            if n % 50 == 49:
                time.sleep(0.02)  # stay under the socket buffers
        s.settimeout(1.0)
        while True:
            try:
                data = s.recvfrom(65535)[0]
            except socket.timeout:
                break
            replies += 1
            check(len(data) >= 12, f"short reply {data!r}")
            qid = struct.unpack("!H", data[:2])[0]
            check(qid in sent_ids, f"reply with an ID never sent: {qid:#x}")
            check(data[2] & 0x80, "reply without QR")
    log(f"{len(packets)} random/mutated packets: {replies} replies, all well-formed")

    # 3. over TCP: an empty message, a FORMERR and a good query pipelined; then junk
    good = build_query("www.example.test", "A", qid=0x6001)
    bad = hdr(0x6002, qd=0)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"\0\0")  # zero-length message: dropped, the connection stays
        replies_tcp = tcp_exchange(("127.0.0.1", port), [bad, good])
    check([(m.id, m.status) for m in replies_tcp] == [(0x6002, "FORMERR"), (0x6001, "NOERROR")],
          f"tcp: {[(hex(m.id), m.status) for m in replies_tcp]}")
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(rnd.randbytes(rnd.randrange(1, 3000)))
    log("tcp: FORMERR then answer on one connection; junk connections survived")

    # 4. still serving
    r = dig(port, "www.example.test")
    check(r.status == "NOERROR" and r.rdatas("A") == ["192.0.2.1"], f"after the corpus: {r.status} {r.answer}")
    r = dig(port, "www.example.test", tcp=True)
    check(r.status == "NOERROR", f"after the corpus, tcp: {r.status}")
    log("portico still answers")


if __name__ == "__main__":
    main(run, "malformed DNS packets: FORMERR or drop, no crash")
