#!/usr/bin/env python3
"""Chunked bodies: a chunked request body (odd chunk sizes, extensions,
trailers) reaches the origin intact and still chunked; a chunked response
reaches the client chunked and intact; an until-close response is re-chunked
for an HTTP/1.1 client and close-delimited for HTTP/1.0; curl's chunked
upload works."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import KiB, ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, curl, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin", seed=9))
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, routes: [ {{ cluster: app }} ] }}',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    pat = Pattern(11)
    total = 1_234_567
    sizes = [1, 2, 15, 16, 17, 4095, 4096, 65537, 300_000]
    wire = bytearray(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    off = 0
    k = 0
    while off < total:
        n = min(sizes[k % len(sizes)], total - off)
        ext = b";ext=1" if k % 4 == 0 else b""
        wire += b"%x%s\r\n" % (n, ext) + pat.chunk(off, n) + b"\r\n"
        off += n
        k += 1
    wire += b"0\r\nX-Trailer: yes\r\n\r\n"
    with HttpClient(("127.0.0.1", port)) as c:
        # send in pieces that split chunk headers
        for i in range(0, len(wire), 7777):
            c.send(bytes(wire[i:i + 7777]))
        r = c.response()
        check(r is not None and r.status == 200, f"chunked upload: {r and r.status}")
        got = r.json()
        check(got == {"len": total, "sha256": pat.sha256(total)}, f"origin got {got}, expected {total} bytes")
        check(origin.reqs("/sink")[-1].chunked, "request body not sent chunked to the origin")
        check(origin.reqs("/sink")[-1].header("Content-Length") is None, "chunked request carried Content-Length")

        # chunked response down
        n = 3_000_001
        r = c.request("GET", f"/chunked?n={n}&size=7001")
        check(r.status == 200, f"chunked download: {r.status}")
        check(r.chunked, f"response not chunked: {r.headers}")
        check(r.body_len == n and r.body_sha == origin.pattern.sha256(n),
              f"chunked download: {r.body_len} bytes, checksum ok={r.body_sha == origin.pattern.sha256(n)}")
        # until-close origin response: re-chunked for HTTP/1.1
        n = 500_000
        r = c.request("GET", f"/untilclose?n={n}")
        check(r.status == 200 and r.chunked, f"until-close response to 1.1: {r.status} chunked={r.chunked}")
        check(r.body_len == n and r.body_sha == origin.pattern.sha256(n), f"until-close body: {r.body_len}")
        r = c.request("GET", "/echo?still-open")  # the client connection survived
        check(r.status == 200, "connection unusable after a re-chunked response")
    with HttpClient(("127.0.0.1", port)) as c:
        c.send(b"GET /untilclose?n=100000 HTTP/1.0\r\nHost: x\r\n\r\n")
        r = c.response()
        check(r is not None and r.status == 200 and not r.chunked and r.header("Content-Length") is None,
              f"until-close response to 1.0: {r and r.headers}")
        check(r.body_len == 100000 and r.body_sha == origin.pattern.sha256(100000),
              f"close-delimited body: {r.body_len} bytes")
    # curl: chunked upload of a file
    path = os.path.join(t.tmpdir, "up.bin")
    data = pat.chunk(0, 200 * KiB)
    with open(path, "wb") as f:
        f.write(data)
    st, _, b = curl(["-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}",
                     f"http://127.0.0.1:{port}/sink"])
    check(st == 200, f"curl chunked upload: {st} {b!r}")
    import json
    check(json.loads(b) == {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()},
          f"curl chunked upload: origin got {b!r}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
