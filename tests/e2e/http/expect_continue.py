#!/usr/bin/env python3
"""Expect: 100-continue: for a proxied request portico answers 100 Continue
before the body is sent, the origin gets the body (and no Expect field), and
the final response follows; curl's own 100-continue upload works; a local
route answers at once without 100 Continue, with Connection: close, and
closes once a body sent anyway is read."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import KiB, ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, curl, http_config, parse_head  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path: "/local" }}, respond: {{ status: 403, body: "no\\n" }} }}
      - {{ cluster: app }}''',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    body = Pattern(4).chunk(0, 300 * KiB)
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send(f"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
               f"Expect: 100-continue\r\n\r\n".encode())
        head = c.reader.read_until(b"\r\n\r\n")  # must come before we send any body byte
        check(head is not None, "no interim response before the body")
        start, _ = parse_head(head)
        check(start.startswith("HTTP/1.1 100"), f"expected 100 Continue first, got {start!r}")
        check(not origin.reqs("/sink"), "origin answered before the body was sent?")
        c.send(body)
        r = c.response()
        check(r is not None and r.status == 200, f"final response: {r and r.status}")
        check(r.json()["len"] == len(body), f"origin got {r.json()['len']} body bytes")
        req = origin.reqs("/sink")[-1]
        check(req.header("Expect") is None, "Expect was forwarded to the origin")
        # the connection goes on
        r = c.request("GET", "/echo")
        check(r.status == 200, "request after the 100-continue exchange")
    # curl sends Expect: 100-continue for bodies over 1 MiB
    path = os.path.join(t.tmpdir, "up.bin")
    big = Pattern(5).chunk(0, 1536 * KiB)
    with open(path, "wb") as f:
        f.write(big)
    st, _, b = curl(["-H", "Expect: 100-continue", "--data-binary", f"@{path}", f"http://127.0.0.1:{port}/sink"])
    check(st == 200 and json.loads(b)["len"] == len(big), f"curl upload: {st} {b!r}")
    # a local route does not want the body: final answer at once, then close
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send(b"POST /local HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        r = c.response()
        check(r is not None and r.status == 403 and not r.interim,
              f"local route with Expect: expected 403 without 100 Continue, got {r and (r.interim, r.status)}")
        check("close" in (r.header("Connection") or "").lower(),
              f"refusing an expected body without Connection: close: {r.headers}")
        # portico reads and discards a body that comes anyway, then closes
        c.send(b"z" * 100000)
        check(c.closed(3), "connection left open after the refused body was sent")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
