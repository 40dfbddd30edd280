#!/usr/bin/env python3
"""Drain (SIGTERM) with DNS work in flight: a TCP client connection waiting on
an upstream that never answers and a pending UDP query do not hold portico
up: the DNS sockets and connections close at once, portico exits 0 well
before drain_timeout, and the DNS port is no longer bound."""
import signal
import socket
import struct
import time

from dns_common import dns_config, start_dns
from fake_dns import FakeDns, build_query
from portico_harness import TestContext, _listening_ports, check, log, main, wait_closed


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    up.down = True
    port = t.port("both")
    # drain_timeout is 5s (dns_config); the upstream attempt would take 10s
    p = start_dns(t, dns_config(port, [up.endpoint], "  upstream_timeout: 10s\n  tcp_idle: 1h\n", workers=2), port)

    tcp = socket.create_connection(("127.0.0.1", port), timeout=5)
    q = build_query("slow.example.test", qid=9)
    tcp.sendall(struct.pack("!H", len(q)) + q)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.sendto(build_query("slow2.example.test", qid=10), ("127.0.0.1", port))
    check(up.wait_count(2, 3) >= 2, f"queries did not reach the upstream: {up.queries}")

    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    kind, _ = wait_closed(tcp, 4, "DNS TCP client during drain")
    rc = p.wait_exit(4)
    took = time.monotonic() - t0
    check(rc == 0, f"exit code {rc} after SIGTERM")
    check(took < 3.0, f"drain took {took:.2f}s with DNS work in flight")
    check(not _listening_ports("udp").get(port) and not _listening_ports("tcp").get(port), "DNS port still bound")
    tcp.close()
    udp.close()
    log(f"drained in {took:.2f}s; TCP client saw {kind}")


if __name__ == "__main__":
    main(run, "drain closes the DNS server at once")
