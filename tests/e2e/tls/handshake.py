#!/usr/bin/env python3
"""TLS on an http listener, seen with openssl s_client, curl and python ssl:
SNI picks the certificate (exact, wildcard, RSA and ECDSA), the first one
without SNI or without a match; ALPN http/1.1; TLS 1.3 by default and TLS 1.2
when forced; min_version 1.2 refuses TLS 1.1 and min_version 1.3 refuses TLS
1.2; session resumption (tickets, TLS 1.3 and 1.2) shows Reused; a last
response (fixed, proxied, static file, 400) ends with close_notify; proxied
requests carry X-Forwarded-Proto https; keep-alive; large bodies both ways
and a large static file (read+encrypt, no sendfile) arrive intact; plain
HTTP and random bytes on the TLS port are closed promptly; a client that
never says hello is closed after timeouts.handshake."""
import hashlib
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import MiB, ListenerSpec, Pattern, TestContext, check, connect_expect_close, main  # noqa: E402
from http_origin import HttpOrigin, curl, read_to_eof  # noqa: E402
from tls_certs import Pki, TlsHttpClient, peer_subject, s_client  # noqa: E402


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    a_cert, a_key = pki.issue("a", "/CN=a.example.test", ["a.example.test"])
    b_cert, b_key = pki.issue("b", "/CN=b.example.test", ["b.example.test", "*.w.example.test"], rsa=True)
    origin = t.add(HttpOrigin(name="origin"))
    root = os.path.join(t.tmpdir, "www")
    os.makedirs(os.path.join(root, "static"))
    big = Pattern(21).chunk(0, 3 * MiB + 17)
    with open(os.path.join(root, "static", "big.bin"), "wb") as f:
        f.write(big)
    port, strict = t.port(), t.port()
    access = os.path.join(t.tmpdir, "access.log")
    cfg = f"""workers: 2
event_loop: auto
drain_timeout: 5s
log: {{ level: debug, access: {{ path: "{access}", format: json }} }}
admin: {{ bind: null }}
listeners:
  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    tls:
      certificates:
        - {{ cert: "{a_cert}", key: "{a_key}" }}
        - {{ cert: "{b_cert}", key: "{b_key}" }}
      min_version: "1.2"
    timeouts: {{ handshake: 1s }}
    routes:
      - {{ match: {{ path_prefix: "/static/" }}, static: {{ root: "{root}" }} }}
      - {{ cluster: app }}
  - name: strict
    bind: "127.0.0.1:{strict}"
    protocol: http
    tls:
      certificates: [ {{ cert: "{a_cert}", key: "{a_key}" }} ]
      min_version: "1.3"
    routes: [ {{ respond: {{ status: 200, body: "strict\\n" }} }} ]
clusters:
  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}
"""
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port), ListenerSpec("127.0.0.1", strict)])
    ca = ["-CAfile", pki.ca, "-verify_return_error"]
    req = b"GET /hello HTTP/1.1\r\nHost: a.example.test\r\nConnection: close\r\n\r\n"

    # --- SNI
    for sni, want in (("a.example.test", "CN = a.example.test"), ("b.example.test", "CN = b.example.test"),
                      ("x.w.example.test", "CN = b.example.test"), ("B.Example.Test", "CN = b.example.test"),
                      ("w.example.test", "CN = a.example.test"), ("other.test", "CN = a.example.test")):
        rc, out = s_client(port, ["-servername", sni, *ca] if sni.endswith("example.test") and "w.example.test" != sni
                           and sni != "other.test" else ["-servername", sni, "-CAfile", pki.ca], req)
        check(peer_subject(out) == want, f"SNI {sni}: subject {peer_subject(out)!r}, want {want!r}\n{out[-800:]}")
        check("HTTP/1.1 200" in out, f"SNI {sni}: no response\n{out[-800:]}")
    rc, out = s_client(port, ["-noservername", "-CAfile", pki.ca], req)
    check(peer_subject(out) == "CN = a.example.test", f"no SNI: {peer_subject(out)!r}")

    # --- versions and ALPN
    rc, out = s_client(port, ["-servername", "a.example.test", *ca, "-alpn", "http/1.1"], req)
    check(rc == 0 and "New, TLSv1.3" in out, f"default is not TLS 1.3:\n{out[-800:]}")
    check("ALPN protocol: http/1.1" in out, f"ALPN not negotiated:\n{out[-800:]}")
    rc, out = s_client(port, ["-servername", "a.example.test", *ca, "-alpn", "h2"], req)
    check("No ALPN negotiated" in out and "HTTP/1.1 200" in out, f"ALPN h2 only:\n{out[-800:]}")
    rc, out = s_client(port, ["-servername", "b.example.test", *ca, "-tls1_2"], req)
    check(rc == 0 and "New, TLSv1.2" in out and "HTTP/1.1 200" in out, f"forced TLS 1.2 (RSA):\n{out[-800:]}")
    off = p.log_offset()
    rc, out = s_client(port, ["-servername", "a.example.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], req)
    check(rc != 0 and "HTTP/1.1 200" not in out, f"TLS 1.1 accepted with min_version 1.2:\n{out[-800:]}")
    p.wait_log(r"TLS handshake failed: .*UNSUPPORTED_PROTOCOL", start=off, what="TLS 1.1 refusal logged")
    rc, out = s_client(strict, ["-servername", "a.example.test", *ca, "-tls1_2"], req)
    check(rc != 0 and "strict" not in out, f"TLS 1.2 accepted with min_version 1.3:\n{out[-800:]}")
    rc, out = s_client(strict, ["-servername", "a.example.test", *ca], req)
    check("New, TLSv1.3" in out and "strict" in out, f"TLS 1.3 on the strict listener:\n{out[-800:]}")

    # --- resumption: TLS 1.3 tickets, TLS 1.2 tickets
    for extra, name in (([], "1.3"), (["-tls1_2"], "1.2")):
        sess = os.path.join(t.tmpdir, f"sess{name}")
        rc, out = s_client(port, ["-servername", "a.example.test", *ca, "-sess_out", sess, *extra], req)
        check(rc == 0 and "New, TLSv" in out and os.path.getsize(sess) > 0, f"TLS {name} first:\n{out[-600:]}")
        rc, out = s_client(port, ["-servername", "a.example.test", *ca, "-sess_in", sess, *extra], req)
        check("Reused, TLSv" + name in out and "HTTP/1.1 200" in out, f"TLS {name} not resumed:\n{out[-800:]}")

    # --- curl: proxying, X-Forwarded-Proto, big bodies both ways, static file
    base = ["--cacert", pki.ca, "--resolve", f"a.example.test:{port}:127.0.0.1"]
    url = f"https://a.example.test:{port}"
    status, headers, body = curl([*base, f"{url}/echo"])
    check(status == 200, f"curl: {status}")
    q = origin.reqs("/echo")[-1]
    check(q.header("X-Forwarded-Proto") == "https", f"X-Forwarded-Proto {q.header('X-Forwarded-Proto')!r}")
    # the access log records the TLS version and the ALPN result
    import json
    entry = None
    for _ in range(40):
        time.sleep(0.1)
        if os.path.exists(access):
            lines = [json.loads(x) for x in open(access).read().splitlines() if x.strip()]
            entry = next((x for x in lines if x.get("path") == "/echo"), None)
            if entry:
                break
    check(entry is not None and entry.get("tls") == "TLSv1.3" and entry.get("alpn") == "http/1.1",
          f"access log entry: {entry}")
    n = 5 * MiB + 3
    status, headers, body = curl([*base, f"{url}/big?n={n}&seed=4"], timeout=30)
    check(status == 200 and hashlib.sha256(body).hexdigest() == Pattern(4).sha256(n), f"big download: {status}, {len(body)} bytes")
    up = Pattern(9).chunk(0, 4 * MiB)
    upfile = os.path.join(t.tmpdir, "up.bin")
    with open(upfile, "wb") as f:
        f.write(up)
    status, headers, body = curl([*base, "--data-binary", f"@{upfile}", f"{url}/sink"], timeout=30)
    check(status == 200, f"upload: {status}")
    import json
    j = json.loads(body)
    check(j.get("len") == len(up) and j.get("sha256") == hashlib.sha256(up).hexdigest(), f"upload: {j}")
    status, headers, body = curl([*base, f"{url}/static/big.bin"], timeout=30)
    check(status == 200 and body == big, f"static over TLS: {status}, {len(body)} of {len(big)} bytes")
    status, headers, body = curl([*base, "-r", "1000-1999", f"{url}/static/big.bin"])
    check(status == 206 and body == big[1000:2000], f"range over TLS: {status}")

    # --- keep-alive over one TLS connection
    with TlsHttpClient(port, pki.ca, "b.example.test") as c:
        check("CN = b.example.test" in c.subject(), f"python ssl: {c.subject()}")
        for i in range(3):
            r = c.request("GET", f"/k{i}", host="b.example.test")
            check(r.status == 200, f"keep-alive request {i}: {r.status}")
        r = c.request("GET", "/static/big.bin", host="b.example.test")
        check(r.status == 200 and r.body_len == len(big), f"static on keep-alive: {r.status} {r.body_len}")
        r = c.request("GET", "/after-static", host="b.example.test")
        check(r.status == 200, f"request after a static file: {r.status}")

    # --- a last response ends with close_notify (it rides in the response's own
    # send; a static file's after its last slice): python ssl with ragged EOFs
    # not suppressed reads the whole response, then b"" (an EOF without
    # close_notify would raise SSLEOFError)
    def ends_cleanly(p: int, request: bytes, host: str = "a.example.test") -> bytes:
        ctx = ssl.create_default_context(cafile=pki.ca)
        raw = socket.create_connection(("127.0.0.1", p), timeout=10)
        with ctx.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=False) as s:
            s.sendall(request)
            data, how = read_to_eof(s, 10)
        check(how == "eof", f"no close_notify after {request[:40]!r} ({len(data)} bytes read, then {how})")
        return data
    close = b"Host: a.example.test\r\nConnection: close\r\n\r\n"
    check(ends_cleanly(strict, b"GET / HTTP/1.1\r\n" + close).endswith(b"strict\n"), "respond: body")
    check(b"HTTP/1.1 200" in ends_cleanly(port, b"GET /c HTTP/1.1\r\n" + close), "proxied: status")
    got = ends_cleanly(port, b"GET /static/big.bin HTTP/1.1\r\n" + close)
    check(got.endswith(big), f"static: {len(got)} bytes")
    check(ends_cleanly(port, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n").startswith(b"HTTP/1.1 400"),
          "malformed request: 400")
    # pipelined requests answered by portico itself, in one TLS record
    got = ends_cleanly(strict, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" * 3 + b"GET /4 HTTP/1.1\r\n" + close)
    check(got.count(b"HTTP/1.1 200") == 4 and got.endswith(b"strict\n"), f"pipelined over TLS: {got[:300]!r}")

    # --- bad input
    addr = ("127.0.0.1", port)
    kind, secs = connect_expect_close(addr, 3.0, "plain HTTP on the TLS port",
                                      send=b"GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
    check(secs < 0.8, f"plain HTTP: closed after {secs:.2f}s")
    kind, secs = connect_expect_close(addr, 3.0, "random bytes", send=os.urandom(3000))
    check(secs < 0.8, f"random bytes: closed after {secs:.2f}s")
    kind, secs = connect_expect_close(addr, 5.0, "silent client")
    check(0.7 < secs < 3.0, f"silent client: closed after {secs:.2f}s (handshake timeout 1s)")
    # still serving
    rc, out = s_client(port, ["-servername", "a.example.test", *ca], req)
    check("HTTP/1.1 200" in out, "TLS listener broken after bad input")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, "TLS termination on http listeners: SNI, ALPN, versions, resumption, bodies, bad input",
         deadline=110.0)
