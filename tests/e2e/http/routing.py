#!/usr/bin/env python3
"""Routing table: host exact and *.suffix, path, path_prefix, path_regex, method
and header matches (first match wins, no match = 404); respond, redirect with
{host}{path}, static, and proxy with path-prefix and host rewrite and
request/response header add/remove (checked at the origin and at the client)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, curl, header, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    root = os.path.join(t.tmpdir, "www")
    os.makedirs(os.path.join(root, "static"))
    with open(os.path.join(root, "static", "hello.txt"), "w") as f:
        f.write("hello static\n")
    port = t.port()
    routes = f"""
      - {{ match: {{ host: "exact.test", path: "/exact" }}, respond: {{ status: 200, body: "exact-host\\n" }} }}
      - {{ match: {{ host: "*.wild.test" }}, respond: {{ status: 200, body: "wild-host\\n" }} }}
      - {{ match: {{ path: "/p/exact" }}, respond: {{ status: 201, body: "path-exact\\n" }} }}
      - match: {{ path_prefix: "/api/" }}
        cluster: app
        rewrite: {{ path_prefix: "/v2/", host: "backend.internal" }}
        request_headers: {{ add: {{ X-Env: prod, X-Added: "a b" }}, remove: [X-Debug] }}
        response_headers: {{ add: {{ X-Resp: added }}, remove: [X-Secret] }}
      - {{ match: {{ path_regex: "^/re/[0-9]+$" }}, respond: {{ status: 200, body: "regex\\n" }} }}
      - {{ match: {{ path: "/m", method: [POST, PUT] }}, respond: {{ status: 200, body: "post-or-put\\n" }} }}
      - {{ match: {{ path: "/m" }}, respond: {{ status: 200, body: "other-method\\n" }} }}
      - {{ match: {{ path: "/h", headers: {{ X-Flag: "on" }} }}, respond: {{ status: 200, body: "flag\\n" }} }}
      - {{ match: {{ path_prefix: "/redir/" }}, redirect: {{ status: 308, location: "https://{{host}}{{path}}" }} }}
      - {{ match: {{ path_prefix: "/static/" }}, static: {{ root: "{root}" }} }}
      - {{ match: {{ path: "/teapot" }}, respond: {{ status: 418, body: "short and stout\\n" }} }}
"""
    cfg = http_config(
        listeners=f'  - name: web\n    bind: "127.0.0.1:{port}"\n    protocol: http\n    routes:{routes}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    base = f"http://127.0.0.1:{port}"

    def get(path: str, host: str = "example.test", method: str = "GET", hdrs: list = ()) -> tuple:
        args = ["-X", method, "-H", f"Host: {host}"]
        for n, v in hdrs:
            args += ["-H", f"{n}: {v}"]
        return curl(args + [base + path])

    def expect(path: str, status: int, body: bytes, **kw) -> None:
        st, _, b = get(path, **kw)
        check((st, b) == (status, body), f"{kw} {path}: expected {status} {body!r}, got {st} {b!r}")

    # host matches
    expect("/exact", 200, b"exact-host\n", host="exact.test")
    expect("/exact", 200, b"exact-host\n", host="EXACT.test:8080")      # case and port ignored
    expect("/exact", 404, b"404 Not Found\n", host="other.test")
    expect("/anything", 200, b"wild-host\n", host="a.wild.test")
    expect("/anything", 200, b"wild-host\n", host="x.y.WILD.test")
    expect("/anything", 404, b"404 Not Found\n", host="wild.test")       # *.suffix needs a label
    expect("/anything", 404, b"404 Not Found\n", host="notwild.test")
    # path, regex
    expect("/p/exact", 201, b"path-exact\n")
    expect("/p/exact/", 404, b"404 Not Found\n")
    expect("/p/exact2", 404, b"404 Not Found\n")
    expect("/re/12345", 200, b"regex\n")
    expect("/re/12a", 404, b"404 Not Found\n")
    expect("/re/1/x", 404, b"404 Not Found\n")
    # method: first match wins
    expect("/m", 200, b"post-or-put\n", method="POST")
    expect("/m", 200, b"post-or-put\n", method="PUT")
    expect("/m", 200, b"other-method\n", method="GET")
    expect("/m", 200, b"other-method\n", method="DELETE")
    # header match (value is case-sensitive)
    expect("/h", 200, b"flag\n", hdrs=[("X-Flag", "on")])
    expect("/h", 404, b"404 Not Found\n", hdrs=[("X-Flag", "ON")])
    expect("/h", 404, b"404 Not Found\n")
    expect("/teapot", 418, b"short and stout\n")
    check(not origin.reqs(), f"local routes reached the origin: {origin.reqs()}")

    # redirect
    st, h, _ = get("/redir/a/b?q=1", host="site.test:8080")
    check(st == 308, f"redirect status {st}")
    check(header(h, "Location") == "https://site.test/redir/a/b?q=1",
          f"redirect Location {header(h, 'Location')!r}")

    # static
    st, h, b = get("/static/hello.txt")
    check((st, b) == (200, b"hello static\n"), f"static: {st} {b!r}")
    check((header(h, "Content-Type") or "").startswith("text/plain"), f"static type {header(h, 'Content-Type')}")

    # proxy with rewrites
    st, h, b = get("/api/users?id=7", host="front.test",
                   hdrs=[("X-Debug", "1"), ("X-Env", "client-set"), ("X-Keep", "k")])
    check(st == 200, f"proxy status {st} {b!r}")
    reqs = origin.reqs()
    check(len(reqs) == 1, f"origin saw {len(reqs)} requests")
    r = reqs[0]
    check(r.target == "/v2/users?id=7", f"path prefix rewrite: origin saw target {r.target!r}")
    check(r.header("Host") == "backend.internal", f"host rewrite: origin saw Host {r.header('Host')!r}")
    check(r.header("X-Debug") is None, "X-Debug was not removed")
    envs = [v for n, v in r.headers if n.lower() == "x-env"]
    check(envs == ["prod"], f"X-Env at the origin: {envs} (add replaces the client's)")
    check(r.header("X-Added") == "a b", f"X-Added {r.header('X-Added')!r}")
    check(r.header("X-Keep") == "k", "an unrelated header was lost")
    check(r.header("X-Forwarded-Host") == "front.test", f"X-Forwarded-Host {r.header('X-Forwarded-Host')!r}")
    check(header(h, "X-Resp") == "added", "response header not added")
    check(header(h, "X-Secret") is None, "response header X-Secret not removed")
    check(header(h, "X-Origin") == "yes", "origin's response header lost")
    # prefix rewrite on the bare prefix, and a proxied 404 passes through
    with HttpClient(("127.0.0.1", port)) as c:
        resp = c.request("GET", "/api/")
        check(resp.status == 200, f"/api/: {resp.status}")
        check(origin.reqs()[-1].target == "/v2/", f"/api/ rewritten to {origin.reqs()[-1].target!r}")
        resp = c.request("GET", "/api/status/404")
        check(resp.status == 404 and resp.body == b"status 404\n", f"proxied 404: {resp.status} {resp.body!r}")
        check(origin.reqs()[-1].target == "/v2/status/404", f"{origin.reqs()[-1].target!r}")
        resp = c.request("GET", "/nothing/here")
        check(resp.status == 404, f"unmatched path: {resp.status}")
        resp = c.request("GET", "/p/exact")  # the connection stays usable after a 404
        check(resp.status == 201, f"after 404: {resp.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
