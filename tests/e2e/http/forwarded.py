#!/usr/bin/env python3
"""Forwarding headers and hop-by-hop fields: X-Forwarded-For (appended to the
client's), X-Forwarded-Proto and X-Forwarded-Host (client values replaced),
Via (appended) and X-Request-Id (generated, or the client's kept) reach the
origin; hop-by-hop fields (Connection and what it names, Keep-Alive, TE,
Trailer, Proxy-*) do not, in either direction. An absolute-form request
reaches the origin in origin-form with the target's authority as Host."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, header_all, http_config  # noqa: E402

HOP_REQUEST = ["Connection", "Keep-Alive", "TE", "Trailer", "Proxy-Authorization", "Proxy-Connection",
               "Proxy-Foo", "X-Hop", "X-Hop2"]
HOP_RESPONSE = ["Connection", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer", "X-Resp-Hop"]


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ] }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/plain", host="front.test:8080")
        check(r.status == 200, f"plain: {r.status}")
        q = origin.reqs()[-1]
        check(header_all(q.headers, "X-Forwarded-For") == ["127.0.0.1"], f"XFF {header_all(q.headers, 'X-Forwarded-For')}")
        check(q.header("X-Forwarded-Proto") == "http", f"XFP {q.header('X-Forwarded-Proto')}")
        check(q.header("X-Forwarded-Host") == "front.test:8080", f"XFH {q.header('X-Forwarded-Host')}")
        check(q.header("Via") == "1.1 portico", f"Via {q.header('Via')}")
        rid = q.header("X-Request-Id") or ""
        check(re.fullmatch(r"[0-9a-f]{32}", rid) is not None, f"X-Request-Id {rid!r}")
        check(q.header("Host") == "front.test:8080", f"Host {q.header('Host')}")

        r = c.request("GET", "/again")
        rid2 = origin.reqs()[-1].header("X-Request-Id")
        check(rid2 and rid2 != rid, f"request ids not unique: {rid} {rid2}")

        r = c.request("GET", "/spoofed", headers=[
            ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-For", "198.51.100.1, 10.0.0.1"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.test"), ("Via", "1.0 fred"),
            ("X-Request-Id", "client-id-1")])
        q = origin.reqs()[-1]
        check(header_all(q.headers, "X-Forwarded-For") == ["203.0.113.7, 198.51.100.1, 10.0.0.1, 127.0.0.1"],
              f"XFF not appended: {header_all(q.headers, 'X-Forwarded-For')}")
        check(header_all(q.headers, "X-Forwarded-Proto") == ["http"], f"XFP {header_all(q.headers, 'X-Forwarded-Proto')}")
        check(header_all(q.headers, "X-Forwarded-Host") == ["example.test"], f"XFH {header_all(q.headers, 'X-Forwarded-Host')}")
        check(header_all(q.headers, "Via") == ["1.0 fred, 1.1 portico"], f"Via {header_all(q.headers, 'Via')}")
        check(header_all(q.headers, "X-Request-Id") == ["client-id-1"], f"X-Request-Id {header_all(q.headers, 'X-Request-Id')}")

        r = c.request("GET", "/hop", headers=[
            ("Connection", "keep-alive, X-Hop"), ("Connection", "x-hop2"), ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"), ("Trailer", "X-T"), ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("Proxy-Connection", "keep-alive"), ("Proxy-Foo", "1"), ("X-Hop", "1"), ("X-Hop2", "2"),
            ("X-Keep", "kept")])
        check(r.status == 200, f"hop: {r.status}")
        q = origin.reqs()[-1]
        leaked = [n for n in HOP_REQUEST if q.header(n) is not None]
        check(not leaked, f"hop-by-hop request fields reached the origin: {leaked}")
        check(q.header("X-Keep") == "kept", "an end-to-end field was dropped")
        leaked = [n for n in HOP_RESPONSE if r.header(n) is not None and
                  not (n == "Connection" and r.header(n).lower() == "keep-alive")]
        check(not leaked, f"hop-by-hop response fields reached the client: "
                          f"{[(n, r.header(n)) for n in leaked]}")
        check(r.header("X-Origin") == "yes", "an end-to-end response field was dropped")
        r = c.request("GET", "/after")  # the client's keep-alive survived Connection: keep-alive, X-Hop
        check(r.status == 200, f"after: {r.status}")
    check(origin.accepted == 1, f"origin connections: {origin.accepted}")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        # absolute-form: the target's authority is the host; origin-form upstream
        c.send(b"GET http://abs.test:8080/p/q?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n")
        r = c.response()
        check(r is not None and r.status == 200, "absolute-form request")
        q = origin.reqs()[-1]
        check(q.target == "/p/q?x=1", f"absolute-form target forwarded as {q.target!r}")
        check(header_all(q.headers, "Host") == ["abs.test:8080"], f"absolute-form Host: {header_all(q.headers, 'Host')}")
        check(q.header("X-Forwarded-Host") == "abs.test:8080", f"absolute-form XFH {q.header('X-Forwarded-Host')}")
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send(b"GET /ten HTTP/1.0\r\nHost: x\r\n\r\n")
        r = c.response()
        check(r is not None and r.status == 200, "HTTP/1.0 request")
        check(origin.reqs()[-1].header("Via") == "1.0 portico", f"Via for 1.0: {origin.reqs()[-1].header('Via')}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
