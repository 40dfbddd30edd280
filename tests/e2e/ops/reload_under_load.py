#!/usr/bin/env python3
"""Reload under load: a bounded wrk run (2 threads, 16 keep-alive connections,
8 s) through an HTTP listener while ten SIGHUP reloads change its routes (added,
removed, reordered, rewritten), move the route between two clusters, change a
cluster's endpoints and add/remove a second listener. Every response must be 2xx
and wrk must see no socket error; every reload must succeed. wrk keeps its
connections open, so both clusters serving shows keep-alive connections adopt
the new routes between requests."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import WrkLoad, metric, ops_config, scrape  # noqa: E402
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpOrigin  # noqa: E402


def run(t: TestContext) -> None:
    a = t.add(HttpOrigin(name="origin-a"))
    b = t.add(HttpOrigin(name="origin-b"))
    web, extra, ap = t.port(), t.port(), t.port()

    def config(i: int) -> str:
        first = "a" if i % 2 == 0 else "b"
        routes = [f'      - {{ name: main, match: {{ path_prefix: "/load/" }}, cluster: {first}, '
                  f'rewrite: {{ path_prefix: "/v{i}/" }} }}']
        if i % 3 == 1:
            routes.insert(0, f'      - {{ match: {{ path: "/other{i}" }}, respond: {{ status: 200, body: "x" }} }}')
        if i % 3 == 2:
            routes.append('      - { match: { path_prefix: "/" }, respond: { status: 404, body: "no" } }')
        lst = f"""  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    routes:
""" + "\n".join(routes) + "\n"
        if i % 2 == 1:
            lst += f"""  - name: extra{i}
    bind: "127.0.0.1:{extra}"
    protocol: http
    routes: [ {{ match: {{ path_prefix: "/" }}, respond: {{ status: 200, body: "extra" }} }} ]
"""
        b_eps = f'"{b.endpoint}"' if i % 4 != 3 else f'"{b.endpoint}", "{a.endpoint}"'
        clusters = f"""  - {{ name: a, endpoints: [ "{a.endpoint}" ], pool: {{ max_idle: {8 + i} }} }}
  - {{ name: b, endpoints: [ {b_eps} ] }}
"""
        return ops_config(ap, lst, clusters, workers=2)

    p = t.start_portico(config(0), [ListenerSpec("127.0.0.1", web), ListenerSpec("127.0.0.1", ap)])
    load = WrkLoad(f"http://127.0.0.1:{web}/load/x", duration=8).start()
    time.sleep(1.0)
    for i in range(1, 11):
        status, text = p.reload(config(i))
        check(status == "ok", f"reload {i} failed:\n{text}")
        time.sleep(0.4)
    total = load.finish("under reload")
    s = scrape(ap)
    check(metric(s, "portico_reloads_total", result="ok") == 10, "ten reloads ok")
    served = metric(s, "portico_http_requests_total", listener="web", route="main", **{"class": "2xx"})
    check(served >= total, f"metrics count {served} 2xx on route main, wrk counted {total}")
    check(metric(s, "portico_http_requests_total", listener="web", route="main", **{"class": "5xx"}) == 0,
          "no 5xx on route main")
    check(len(a.reqs()) > 0 and len(b.reqs()) > 0, "both clusters served")


if __name__ == "__main__":
    main(run, __doc__, deadline=90.0)
