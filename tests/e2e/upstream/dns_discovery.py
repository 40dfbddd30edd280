#!/usr/bin/env python3
"""DNS service discovery through the built-in DNS module (which forwards to a
test DNS server whose answers change): `discovery: { dns: "svc.test:P" }`
starts with the one A record (127.0.0.2), follows the answer as it grows to
two addresses (both get traffic) and shrinks to the other one, re-resolving
when the 1 s TTL ends; a request in flight on the endpoint that leaves
completes. `dns_srv` turns SRV records into endpoints: weights 1 and 3 give
a 1:3 split under weighted_round_robin, and the priority-1 record gets
nothing while priority 0 is up.

Truncated answers: a name with 40 A records (more than a 512-byte UDP answer
holds) is discovered whole over TCP, both from a test DNS server that
answers over UDP with the records that fit and TC set (`discovery.nameserver`
pointing at it directly: it must see the TCP query), and through the built-in
DNS module (whose UDP answer to a query without EDNS is cut at 512 bytes);
each of the 40 origins then gets exactly one of 40 round-robin requests on
one connection. `max_endpoints: 10` keeps 10 of them."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from fake_dns import FakeDns  # noqa: E402
from portico_harness import ListenerSpec, TestContext, check, free_port, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402


class SlowOrigin(HttpOrigin):
    def respond(self, conn, r, req):
        if req.path == "/slow":
            time.sleep(3)
        return super().respond(conn, r, req)


def origin_on(t: TestContext, host: str, port: int, name: str) -> HttpOrigin:
    """An origin on host:port (loopback aliases like 127.0.0.2)."""
    o = SlowOrigin(name=name)
    o.sock.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(128)
    o.sock, o.address, o.port, o.endpoint = s, (host, port), port, f"{host}:{port}"
    return t.add(o)


def run(t: TestContext) -> None:
    up = t.add(FakeDns())
    op = free_port()
    a = origin_on(t, "127.0.0.2", op, "a")
    b = origin_on(t, "127.0.0.3", op, "b")
    s1 = t.add(HttpOrigin(name="s1"))
    s3 = t.add(HttpOrigin(name="s3"))
    spare = t.add(HttpOrigin(name="spare"))
    # 40 addresses: more than fit in a 512-byte UDP answer (29 do)
    many = [f"127.0.1.{i}" for i in range(1, 41)]
    mport = free_port()
    crowd = [origin_on(t, h, mport, f"m{i}") for i, h in enumerate(many)]
    tcdns = t.add(FakeDns(name="tc-dns"))
    tcdns.udp_limit = 512
    for server in (up, tcdns):
        server.set("many.svc.test", "A", many, ttl=60)
    up.set("svc.test", "A", ["127.0.0.2"], ttl=1)
    up.set("_http._tcp.svc.test", "SRV", [f"0 1 {s1.port} one.svc.test", f"0 3 {s3.port} three.svc.test",
                                          f"1 1 {spare.port} spare.svc.test"], ttl=60)
    for n in ("one", "three", "spare"):
        up.set(f"{n}.svc.test", "A", ["127.0.0.1"], ttl=60)
    port, dport = t.port(), t.port()
    cfg = http_config(
        workers=2,
        extra=f'''dns:
  listen: ["127.0.0.1:{dport}"]
  upstreams: ["{up.endpoint}"]
''',
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path_prefix: "/srv/" }}, cluster: srv }}
      - {{ match: {{ path_prefix: "/tcp/" }}, cluster: tcp }}
      - {{ match: {{ path_prefix: "/mod/" }}, cluster: mod }}
      - {{ cluster: d }}''',
        clusters=f'''  - {{ name: d, discovery: {{ dns: "svc.test:{op}" }} }}
  - {{ name: srv, lb: weighted_round_robin, discovery: {{ dns_srv: "_http._tcp.svc.test" }} }}
  - {{ name: tcp, discovery: {{ dns: "many.svc.test:{mport}", nameserver: "{tcdns.endpoint}", timeout: 3s }} }}
  - {{ name: mod, discovery: {{ dns: "many.svc.test:{mport}" }} }}
  - {{ name: capped, discovery: {{ dns: "many.svc.test:{mport}", nameserver: "{tcdns.endpoint}", max_endpoints: 10 }} }}''')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    p.wait_log(r"cluster=d discovery=dns endpoints=1", timeout=10, what="the first dns discovery")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(4):
            check(c.request("GET", f"/one/{i}").status == 200, "GET with one discovered endpoint")
    check(len(a.reqs()) == 4 and not b.reqs(), f"one endpoint: a={len(a.reqs())} b={len(b.reqs())}")

    off = p.log_offset()
    up.set("svc.test", "A", ["127.0.0.2", "127.0.0.3"], ttl=1)
    p.wait_log(r"cluster=d discovery=dns endpoints=2", timeout=6, start=off, what="the grown answer")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(10):
            check(c.request("GET", f"/two/{i}").status == 200, "GET with two discovered endpoints")
    two = {x.name: len([q for q in x.reqs() if q.path.startswith("/two/")]) for x in (a, b)}
    log(f"two endpoints: {two}")
    check(two["a"] > 0 and two["b"] > 0, f"both discovered endpoints should get traffic: {two}")

    # requests in flight on a (3 s each), then a leaves the answer
    slow_result: list = []

    def slow() -> None:
        try:
            with HttpClient(("127.0.0.1", port), timeout=10) as c:
                slow_result.append(c.request("GET", "/slow").status)
        except Exception as e:  # noqa: BLE001
            slow_result.append(repr(e))

    threads = [threading.Thread(target=slow) for _ in range(4)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    off = p.log_offset()
    up.set("svc.test", "A", ["127.0.0.3"], ttl=1)
    p.wait_log(r"cluster=d discovery=dns endpoints=1", timeout=6, start=off, what="the shrunk answer")
    changed_while_busy = len(slow_result) == 0
    for th in threads:
        th.join(20)
    log(f"slow requests {slow_result}; a got {len(a.reqs('/slow'))}; set changed while in flight: {changed_while_busy}")
    check(len(a.reqs("/slow")) >= 1, "no slow request landed on the endpoint that leaves")
    check(slow_result == [200] * 4, f"requests in flight when the endpoint set changed: {slow_result}")
    n_a = len(a.reqs())
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(6):
            check(c.request("GET", f"/after/{i}").status == 200, "GET after the shrink")
    check(len(a.reqs()) == n_a, "the endpoint that left the answer still gets traffic")

    # SRV: weights and priority
    p.wait_log(r"cluster=srv discovery=dns_srv endpoints=3", timeout=10, what="the SRV discovery")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(40):
            check(c.request("GET", f"/srv/{i}").status == 200, "GET through the SRV cluster")
    got = {x.name: len([q for q in x.reqs() if q.path.startswith("/srv/")]) for x in (s1, s3, spare)}
    log(f"srv split {got}")
    # two workers: each worker's smooth WRR is exact; connections spread between them
    check(got["spare"] == 0, f"the priority-1 SRV target got traffic: {got}")
    check(8 <= got["s1"] <= 12 and got["s1"] + got["s3"] == 40, f"SRV weights 1:3 not honoured: {got}")

    # truncated over UDP: the whole answer over TCP
    for name in ("tcp", "mod"):
        p.wait_log(rf"cluster={name} discovery=dns endpoints=40 ", timeout=10, start=0,
                   what=f"cluster {name}: all 40 addresses of the truncated answer")
    p.wait_log(r"cluster=capped discovery=dns endpoints=10 ", timeout=10, start=0, what="max_endpoints: 10")
    udp_q = tcdns.count("many.svc.test", "A", transport="udp")
    tcp_q = tcdns.count("many.svc.test", "A", transport="tcp")
    log(f"tc-dns: {udp_q} UDP and {tcp_q} TCP queries for many.svc.test A, {tcdns.truncated} answers truncated")
    check(tcdns.truncated >= 1 and tcp_q >= 1, "the truncated UDP answer was not asked again over TCP")
    for name in ("tcp", "mod"):
        with HttpClient(("127.0.0.1", port), timeout=5) as c:  # one connection: one worker's round robin
            for i in range(40):
                check(c.request("GET", f"/{name}/{i}").status == 200, f"GET through cluster {name}")
        per = [len([q for q in o.reqs() if q.path.startswith(f"/{name}/")]) for o in crowd]
        missed = [many[i] for i, n in enumerate(per) if n != 1]
        check(not missed, f"cluster {name}: 40 round-robin requests should reach each of the 40 discovered "
                          f"endpoints once; not so for {missed} ({per})")


if __name__ == "__main__":
    main(run, __doc__)
