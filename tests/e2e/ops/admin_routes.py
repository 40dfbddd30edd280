#!/usr/bin/env python3
"""Admin endpoint: /healthz, /ready, /metrics, /clusters, /config (token redacted),
POST /reload (ok, and failed with the old config kept), the bearer token (401
without it, probes open), wrong method 405, unknown path 404, malformed and
oversized requests 4xx, many bad requests in a row without a crash; POST /drain
makes /ready answer 503 while a session is still open, then the process exits 0."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import admin, admin_raw, ops_config, scrape  # noqa: E402
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, check, connect,  # noqa: E402
                             echo_roundtrip, main)

TOKEN = "s3cret-token"


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer())
    web, tcp, ap = t.port(), t.port(), t.port()

    def config(body: str) -> str:
        return ops_config(ap, token=TOKEN, listeners=f"""
  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    routes:
      - {{ name: hello, match: {{ path: "/" }}, respond: {{ status: 200, body: "{body}" }} }}
  - {{ name: relay, bind: "127.0.0.1:{tcp}", protocol: tcp, cluster: echo }}
""", clusters=f"""
  - {{ name: echo, endpoints: [ "{echo.endpoint}", "127.0.0.1:1" ],
      health_check: {{ type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }} }}
""")

    p = t.start_portico(config("one"), [ListenerSpec("127.0.0.1", web), ListenerSpec("127.0.0.1", ap)])

    # probes need no token
    st, _, body = admin(ap, "/healthz")
    check((st, body) == (200, b"ok\n"), f"/healthz: {st} {body!r}")
    st, _, body = admin(ap, "/ready")
    check((st, body) == (200, b"ready\n"), f"/ready: {st} {body!r}")
    st, h, body = admin(ap, "/healthz", method="HEAD")
    check(st == 200 and h.get("content-length") == "3" and body == b"", f"HEAD /healthz: {st} {h}")

    st, h, body = admin(ap, "/nope", method="HEAD")
    check(st == 404 and body == b"", f"HEAD /nope: {st} {body!r}")
    # the rest needs the token
    for path in ("/metrics", "/clusters", "/config"):
        st, h, _ = admin(ap, path)
        check(st == 401 and "bearer" in h.get("www-authenticate", "").lower(), f"{path} without token: {st} {h}")
        st, _, _ = admin(ap, path, token="wrong")
        check(st == 401, f"{path} with a wrong token: {st}")
    st, _, _ = admin(ap, "/reload", method="POST")
    check(st == 401, f"POST /reload without token: {st}")
    # The auth scheme is case-insensitive (RFC 9110 11.1); the token is not.
    for scheme, want in (("bearer", 200), ("BEARER", 200), ("Basic", 401)):
        st, _, _ = admin_raw(ap, f"GET /clusters HTTP/1.1\r\nHost: a\r\nAuthorization: {scheme} {TOKEN}\r\n"
                                 f"Connection: close\r\n\r\n".encode())
        check(st == want, f"Authorization: {scheme} <token>: {st}, want {want}")
    st, _, _ = admin_raw(ap, f"GET /clusters HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN.upper()}x\r\n"
                             f"Connection: close\r\n\r\n".encode())
    check(st == 401, f"a wrong token with the right scheme: {st}")

    samples = scrape(ap, TOKEN)
    check(samples[("portico_workers", ())] == 2, "portico_workers should be 2")

    st, h, body = admin(ap, "/clusters", token=TOKEN)
    check(st == 200 and h["content-type"] == "application/json", f"/clusters: {st} {h}")
    cl = json.loads(body)["clusters"]
    check([c["name"] for c in cl] == ["echo"], f"/clusters names: {cl}")
    check([e["address"] for e in cl[0]["endpoints"]] == [echo.endpoint, "127.0.0.1:1"], f"/clusters: {cl}")
    check(all("health" in e for e in cl[0]["endpoints"]), "endpoints carry a health field")
    # The tcp health check finds 127.0.0.1:1 closed: /clusters shows it down, the echo up.
    deadline = time.monotonic() + 5
    while True:
        st, _, body = admin(ap, "/clusters", token=TOKEN)
        eps = {e["address"]: e for e in json.loads(body)["clusters"][0]["endpoints"]}
        if eps["127.0.0.1:1"]["health"] == "down" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(cl[0]["health_checked"] is True, f"/clusters: health_checked {cl[0]}")
    check(eps[echo.endpoint]["health"] == "up" and eps[echo.endpoint]["available"], f"/clusters echo: {eps}")
    check(eps["127.0.0.1:1"]["health"] == "down" and not eps["127.0.0.1:1"]["available"],
          f"/clusters: the closed endpoint is not down: {eps}")
    check(eps["127.0.0.1:1"]["reason"] != "", f"/clusters: no reason for down: {eps}")

    st, _, body = admin(ap, "/config", token=TOKEN)
    check(st == 200, f"/config: {st}")
    cfg = json.loads(body)
    check(cfg["admin"]["token"] == "<redacted>", f"token not redacted: {cfg['admin']}")
    check(TOKEN.encode() not in body, "the token appears in /config")
    check([l["name"] for l in cfg["listeners"]] == ["web", "relay"], f"/config listeners: {cfg['listeners']}")
    check(cfg["listeners"][0]["routes"][0]["respond"]["body"] == "one", "route in /config")

    # methods and paths
    for path, method, want in [("/metrics", "POST", 405), ("/reload", "GET", 405), ("/drain", "GET", 405),
                               ("/healthz", "DELETE", 405), ("/nope", "GET", 404), ("/metrics/x", "GET", 404),
                               ("/", "GET", 404)]:
        st, h, _ = admin(ap, path, method=method, token=TOKEN)
        check(st == want, f"{method} {path}: {st}, expected {want}")
        if want == 405:
            check("allow" in h, f"{method} {path}: 405 without Allow")

    # malformed and oversized requests: 4xx, never a crash
    bad = [b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
           b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n",
           b"POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999\r\n\r\n",
           b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"]
    for raw in bad:
        st, _, _ = admin_raw(ap, raw)
        check(400 <= st < 500, f"malformed {raw[:40]!r}: status {st}")
    for _ in range(50):  # half requests, closed early
        s = socket.create_connection(("127.0.0.1", ap))
        s.sendall(b"GET /metr")
        s.close()
    st, _, _ = admin(ap, "/healthz")
    check(st == 200 and p.alive(), "admin still answers after bad requests")

    # reload through the admin endpoint
    p.write_config(config("two"))
    st, _, body = admin(ap, "/reload", method="POST", token=TOKEN)
    check((st, body) == (200, b"reload ok\n"), f"POST /reload: {st} {body!r}")
    st, _, body = admin(ap, "/config", token=TOKEN)
    check(json.loads(body)["listeners"][0]["routes"][0]["respond"]["body"] == "two", "/config after reload")
    p.write_config("listeners: [ { name: broken } ]\n")
    st, _, body = admin(ap, "/reload", method="POST", token=TOKEN)
    check(st == 500 and body.startswith(b"reload failed: "), f"POST /reload with a bad file: {st} {body!r}")
    samples = scrape(ap, TOKEN)
    check(samples[("portico_reloads_total", (("result", "ok"),))] == 1, "one reload ok")
    check(samples[("portico_reloads_total", (("result", "failed"),))] == 1, "one reload failed")
    st, _, body = admin(ap, "/config", token=TOKEN)
    check(json.loads(body)["listeners"][0]["routes"][0]["respond"]["body"] == "two", "old config kept")
    # A reload that changes restart-only keys: the rest applies, /config shows what runs.
    p.write_config(config("three").replace("workers: 2", "workers: 1").replace("event_loop: auto", "event_loop: epoll"))
    st, _, body = admin(ap, "/reload", method="POST", token=TOKEN)
    check((st, body) == (200, b"reload ok\n"), f"POST /reload changing workers: {st} {body!r}")
    st, _, body = admin(ap, "/config", token=TOKEN)
    running = json.loads(body)
    check(running["listeners"][0]["routes"][0]["respond"]["body"] == "three", "/config after the third reload")
    check(running.get("workers") == 2 and running.get("event_loop") == "auto",
          f"/config shows workers {running.get('workers')}, event_loop {running.get('event_loop')}: not what runs")
    p.wait_log(r"the number of workers changes only on restart", what="restart-only warning")

    # 70 connections that send nothing (the cap is 64) cannot lock out a probe:
    # the oldest waiting ones make room for new ones.
    idle = [socket.create_connection(("127.0.0.1", ap), timeout=5) for _ in range(70)]
    try:
        time.sleep(0.3)
        for _ in range(3):
            st, _, body = admin(ap, "/healthz")
            check((st, body) == (200, b"ok\n"), f"/healthz with 70 idle admin connections open: {st} {body!r}")
    finally:
        for c in idle:
            c.close()
    p.wait_log(r"waiting ones closed to make room", what="the admin cap warning")

    # drain: /ready says 503 while a relayed session keeps the process alive
    s = connect(("127.0.0.1", tcp))
    echo_roundtrip(s, b"hold")
    st, _, body = admin(ap, "/drain", method="POST", token=TOKEN)
    check((st, body) == (202, b"draining\n"), f"POST /drain: {st} {body!r}")
    p.wait_log(r"draining", what="drain log line")
    st, _, body = admin(ap, "/ready")
    check((st, body) == (503, b"draining\n"), f"/ready while draining: {st} {body!r}")
    st, _, _ = admin(ap, "/healthz")
    check(st == 200, "/healthz while draining")
    s.close()
    rc = p.wait_exit(10)
    check(rc == 0, f"exit code after POST /drain: {rc}")


if __name__ == "__main__":
    main(run, __doc__)
