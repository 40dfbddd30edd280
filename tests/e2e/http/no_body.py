#!/usr/bin/env python3
"""Responses without bodies: HEAD (proxied, local, static), 204 and 304 from
the origin reach the client with no body bytes (a following request on the
same connection parses cleanly), HEAD keeps Content-Length."""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    root = os.path.join(t.tmpdir, "www")
    os.makedirs(root)
    with open(os.path.join(root, "f.txt"), "w") as f:
        f.write("0123456789")
    port = t.port()
    cfg = http_config(
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path: "/local" }}, respond: {{ status: 200, body: "local body\\n" }} }}
      - {{ match: {{ path: "/f.txt" }}, static: {{ root: "{root}" }} }}
      - {{ cluster: app }}''',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        for i in range(2):
            # Raw reads: a stray body byte would corrupt the next response's status line.
            r = c.request("HEAD", "/big?n=5000")
            check(r.status == 200 and r.header("Content-Length") == "5000",
                  f"proxied HEAD: {r.status} CL={r.header('Content-Length')}")
            r = c.request("HEAD", "/local")
            check(r.status == 200 and r.header("Content-Length") == "11", f"local HEAD: {r.status} {r.headers}")
            r = c.request("HEAD", "/f.txt")
            check(r.status == 200 and r.header("Content-Length") == "10", f"static HEAD: {r.status} {r.headers}")
            r = c.request("GET", "/status/204")
            check(r.status == 204, f"204: {r.status}")
            check(r.header("Content-Length") in (None, "0") and not r.chunked,
                  f"204 with framing: {r.headers}")
            r = c.request("GET", "/status/304", headers=[("If-None-Match", '"v1"')])
            check(r.status == 304 and not r.chunked, f"304: {r.status} {r.headers}")
            r = c.request("GET", "/echo?after")
            check(r.status == 200 and r.json()["target"] == "/echo?after",
                  f"request after bodiless responses: {r.status} {r.body[:60]!r}")
        # nothing extra is pending on the connection
        c.sock.settimeout(0.5)
        try:
            extra = c.sock.recv(100)
        except TimeoutError:
            extra = b""
        check(extra == b"" and not c.reader.buf, f"stray bytes after the responses: {extra!r}")
    check(origin.accepted == 1, f"origin connections: {origin.accepted} (bodiless responses broke reuse)")
    # An origin's Content-Length on a 204 is not passed on (RFC 9110 8.6), and
    # the connection goes on.
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/raw?r=" + base64.urlsafe_b64encode(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n").decode())
        check(r.status == 204 and r.header("Content-Length") is None and r.header("X-A") == "1",
              f"204 with the origin's Content-Length: {r.status} {r.headers}")
        r = c.request("GET", "/echo?after204")
        check(r.status == 200, f"request after the 204: {r.status}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
