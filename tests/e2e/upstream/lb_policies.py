#!/usr/bin/env python3
"""Load-balancing policies on the data path, three HTTP origins behind one
worker: weighted_round_robin (weights 1:2:3) sends exactly 10/20/30 of 60
requests in nginx's smooth order (never the same origin three times in a row);
ring_hash on a header sends every request with one key to one origin and
spreads 60 keys over all three; least_request keeps sending to the origins
that answer, away from a slow one; priority groups: the priority-1 endpoint
gets nothing while a priority-0 one is up."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, log, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402


def run(t: TestContext) -> None:
    o = [t.add(HttpOrigin(name=f"o{i}")) for i in range(3)]
    backup = t.add(HttpOrigin(name="backup"))
    port = t.port()
    cfg = http_config(
        workers=1,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path_prefix: "/wrr/" }}, cluster: wrr }}
      - {{ match: {{ path_prefix: "/hash/" }}, cluster: hash }}
      - {{ match: {{ path_prefix: "/lr/" }}, cluster: lr }}
      - {{ match: {{ path_prefix: "/prio/" }}, cluster: prio }}''',
        clusters=f'''  - name: wrr
    lb: weighted_round_robin
    endpoints:
      - {{ address: "{o[0].endpoint}", weight: 1 }}
      - {{ address: "{o[1].endpoint}", weight: 2 }}
      - {{ address: "{o[2].endpoint}", weight: 3 }}
  - name: hash
    lb: ring_hash
    hash_key: {{ header: X-User }}
    endpoints: [ "{o[0].endpoint}", "{o[1].endpoint}", "{o[2].endpoint}" ]
  - name: lr
    lb: least_request
    endpoints: [ "{o[0].endpoint}", "{o[1].endpoint}", "{o[2].endpoint}" ]
  - name: prio
    endpoints:
      - {{ address: "{o[0].endpoint}", priority: 0 }}
      - {{ address: "{backup.endpoint}", priority: 1 }}''')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    def who(prefix: str) -> list[str]:
        """Origin names in request order of the paths prefix/N."""
        seen = [(int(q.path.rsplit("/", 1)[1]), x.name) for x in o + [backup] for q in x.reqs()
                if q.path.startswith(prefix)]
        return [name for _, name in sorted(seen)]

    # weighted round robin: exact shares, smooth order
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(60):
            r = c.request("GET", f"/wrr/{i}")
            check(r.status == 200, f"/wrr/{i}: {r.status}")
    seq = who("/wrr/")
    counts = {n: seq.count(n) for n in ("o0", "o1", "o2")}
    log(f"wrr counts {counts}, first 12: {seq[:12]}")
    check(counts == {"o0": 10, "o1": 20, "o2": 30}, f"weighted_round_robin 1:2:3 over 60: {counts}")
    for i in range(len(seq) - 2):
        check(not (seq[i] == seq[i + 1] == seq[i + 2]), f"not smooth: {seq[i]} three times at {i}")

    # ring_hash on a header: sticky per key, spread over keys
    owner = {}
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        n = 0
        for key in range(60):
            for _ in range(3):
                r = c.request("GET", f"/hash/{n}", headers=[("X-User", f"user-{key}")])
                check(r.status == 200, f"/hash/{n}: {r.status}")
                n += 1
    for x in o:
        for q in x.reqs():
            if q.path.startswith("/hash/"):
                k = q.header("X-User")
                check(owner.setdefault(k, x.name) == x.name, f"key {k} went to {owner[k]} and {x.name}")
    spread = {x.name: len({q.header('X-User') for q in x.reqs() if q.path.startswith('/hash/')}) for x in o}
    log(f"ring_hash keys per origin {spread}")
    check(all(v >= 5 for v in spread.values()), f"ring_hash: 60 keys badly spread {spread}")

    # least_request: an origin that takes 300 ms per request gets far fewer of
    # 16 concurrent streams of requests than the fast ones.
    slow_path = {"o2"}
    orig = HttpOrigin.respond

    def slow_respond(self, conn, r, req):
        if self.name in slow_path and req.path.startswith("/lr/"):
            time.sleep(0.3)
        return orig(self, conn, r, req)

    HttpOrigin.respond = slow_respond
    errors = []

    def stream(k: int) -> None:
        try:
            with HttpClient(("127.0.0.1", port), timeout=10) as c:
                for i in range(15):
                    r = c.request("GET", f"/lr/{k * 100 + i}")
                    if r.status != 200:
                        errors.append(r.status)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=stream, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    HttpOrigin.respond = orig
    check(not errors, f"least_request: errors {errors[:5]}")
    lr = {x.name: len([q for q in x.reqs() if q.path.startswith('/lr/')]) for x in o}
    log(f"least_request counts {lr}")
    check(lr["o2"] * 3 < min(lr["o0"], lr["o1"]), f"least_request did not avoid the slow origin: {lr}")

    # priority groups
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(10):
            check(c.request("GET", f"/prio/{i}").status == 200, "prio request")
    check(not [q for q in backup.reqs() if q.path.startswith("/prio/")], "priority 1 endpoint used while priority 0 is up")
    o0_prio = len([q for q in o[0].reqs() if q.path.startswith("/prio/")])
    check(o0_prio == 10, f"priority 0 endpoint got {o0_prio} of 10")


if __name__ == "__main__":
    main(run, __doc__)
