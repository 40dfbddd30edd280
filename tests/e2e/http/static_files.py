#!/usr/bin/env python3
"""Static files: index files, MIME types, HEAD, 405 for other methods, Range
(206 and 416), ETag/If-None-Match and If-Modified-Since (304), a 2 MiB file
intact, and traversal refused with 404 (../, %2e%2e, %2f, symlinks out of
the root) while the file outside the root exists."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import MiB, ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import HttpClient, curl, http_config  # noqa: E402

FILES = {
    "index.html": b"<h1>home</h1>\n",
    "sub/index.html": b"<h1>sub</h1>\n",
    "style.css": b"body{}\n",
    "app.js": b"let a=1;\n",
    "data.json": b"{\"a\":1}\n",
    "img.png": b"\x89PNG\r\n\x1a\n....",
    "pic.svg": b"<svg/>\n",
    "notes.txt": b"0123456789abcdefghij",
    "PAGE.HTML": b"<p>upper</p>\n",
    "blob.xyz": b"???",
    "dir with space/a b.txt": b"spaced\n",
}
MIME = {"index.html": "text/html", "style.css": "text/css", "app.js": "javascript", "data.json": "application/json",
        "img.png": "image/png", "pic.svg": "image/svg+xml", "notes.txt": "text/plain", "PAGE.HTML": "text/html",
        "blob.xyz": "application/octet-stream"}


def run(t: TestContext) -> None:
    root = os.path.join(t.tmpdir, "www")
    for rel, data in FILES.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    big = Pattern(12).chunk(0, 2 * MiB)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    outside = os.path.join(t.tmpdir, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "secret.txt"), "wb") as f:
        f.write(b"SECRET\n")
    with open(os.path.join(t.tmpdir, "secret.txt"), "wb") as f:
        f.write(b"SECRET\n")
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "link.txt"))
    os.symlink("../outside", os.path.join(root, "linkdir"))
    os.symlink("notes.txt", os.path.join(root, "inner-link.txt"))  # stays inside: allowed
    port = t.port()
    cfg = http_config(
        listeners=f'  - {{ name: web, bind: "127.0.0.1:{port}", protocol: http, '
                  f'routes: [ {{ static: {{ root: "{root}", index: index.html }} }} ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    base = f"http://127.0.0.1:{port}"
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/")
        check(r.status == 200 and r.body == FILES["index.html"], f"index: {r.status} {r.body!r}")
        check((r.header("Content-Type") or "").startswith("text/html"), f"index type {r.header('Content-Type')}")
        r = c.request("GET", "/sub/")
        check(r.status == 200 and r.body == FILES["sub/index.html"], f"sub index: {r.status} {r.body!r}")
        for rel, want in MIME.items():
            r = c.request("GET", "/" + rel)
            check(r.status == 200 and r.body == FILES[rel], f"{rel}: {r.status}")
            check(want in (r.header("Content-Type") or ""), f"{rel}: Content-Type {r.header('Content-Type')}, want {want}")
        r = c.request("GET", "/dir%20with%20space/a%20b.txt")
        check(r.status == 200 and r.body == b"spaced\n", f"percent-encoded path: {r.status}")
        r = c.request("GET", "/inner-link.txt")
        check(r.status == 200 and r.body == FILES["notes.txt"], f"symlink inside the root: {r.status}")
        r = c.request("GET", "/big.bin")
        check(r.status == 200 and r.body_sha == hashlib.sha256(big).hexdigest(), f"big file: {r.status} {r.body_len}")
        r = c.request("HEAD", "/notes.txt")
        check(r.status == 200 and r.header("Content-Length") == "20" and r.body == b"", f"HEAD: {r.headers}")
        r = c.request("POST", "/notes.txt", body=b"x")
        check(r.status == 405, f"POST: {r.status}")
        r = c.request("GET", "/missing.txt")
        check(r.status == 404, f"missing: {r.status}")

        # ranges
        n = len(FILES["notes.txt"])
        for rng, status, body, crange in [("bytes=2-5", 206, b"2345", f"bytes 2-5/{n}"),
                                          ("bytes=15-", 206, b"fghij", f"bytes 15-19/{n}"),
                                          ("bytes=-3", 206, b"hij", f"bytes 17-19/{n}"),
                                          ("bytes=18-100", 206, b"ij", f"bytes 18-19/{n}"),
                                          ("bytes=20-", 416, b"", f"bytes */{n}"),
                                          ("bytes=30-40", 416, b"", f"bytes */{n}")]:
            r = c.request("GET", "/notes.txt", headers=[("Range", rng)])
            check(r.status == status and r.body == body, f"Range {rng}: {r.status} {r.body!r}, want {status} {body!r}")
            check(r.header("Content-Range") == crange, f"Range {rng}: Content-Range {r.header('Content-Range')}")
        r = c.request("GET", "/big.bin", headers=[("Range", "bytes=1000000-1099999")])
        check(r.status == 206 and r.body == big[1000000:1100000], f"big range: {r.status} {r.body_len}")

        # validators
        r = c.request("GET", "/notes.txt")
        etag, lm = r.header("ETag"), r.header("Last-Modified")
        check(etag and lm, f"no ETag/Last-Modified: {r.headers}")
        r = c.request("GET", "/notes.txt", headers=[("If-None-Match", etag)])
        check(r.status == 304 and r.body == b"" and r.header("ETag") == etag, f"If-None-Match: {r.status}")
        r = c.request("GET", "/notes.txt", headers=[("If-None-Match", f'"nope", {etag}')])
        check(r.status == 304, f"If-None-Match list: {r.status}")
        r = c.request("GET", "/notes.txt", headers=[("If-None-Match", '"nope"')])
        check(r.status == 200, f"If-None-Match other: {r.status}")
        r = c.request("GET", "/notes.txt", headers=[("If-Modified-Since", lm)])
        check(r.status == 304 and r.body == b"", f"If-Modified-Since: {r.status}")
        r = c.request("GET", "/notes.txt", headers=[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")])
        check(r.status == 200 and r.body == FILES["notes.txt"], f"If-Modified-Since old: {r.status}")
        r = c.request("GET", "/notes.txt", headers=[("If-None-Match", '"nope"'), ("If-Modified-Since", lm)])
        check(r.status == 200, f"If-None-Match wins over If-Modified-Since: {r.status}")

        # traversal: always 404, never the secret
        for target in ["/../secret.txt", "/../../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt",
                       "/%2E%2E/secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt",
                       "/%2e%2e%2fsecret.txt", "/sub%2findex.html", "/link.txt", "/linkdir/secret.txt",
                       "/.%2e/secret.txt", "/notes.txt%00", "/..", "/%2e%2e"]:
            r = c.request("GET", target)
            check(r.status == 404, f"traversal {target}: {r.status} {r.body[:40]!r}, expected 404")
            check(b"SECRET" not in r.body, f"traversal {target} leaked the secret")
    st, h, b = curl(["--path-as-is", base + "/../outside/secret.txt"])
    check(st == 404 and b"SECRET" not in b, f"curl --path-as-is traversal: {st}")
    st, h, b = curl(["-r", "0-3", base + "/notes.txt"])
    check(st == 206 and b == b"0123", f"curl range: {st} {b!r}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
