#!/usr/bin/env python3
"""TLS metrics on /metrics: portico_tls_handshakes_total moves by version and
resumption (openssl s_client full handshakes, then -sess_out/-sess_in
resumptions, TLS 1.3 and 1.2), on http and tcp listeners;
portico_tls_handshake_failures_total moves by reason: plain HTTP and garbage
(protocol_error), a TLS 1.1 client (unsupported_version), a client that
rejects our certificate (peer_alert), no client certificate on a
client_auth: required listener (client_certificate), a half ClientHello
then close (closed), a silent client past timeouts.handshake (timeout); a
connect-and-close probe counts nothing; an upstream TLS handshake with an
untrusted origin moves portico_upstream_tls_handshake_failures_total.
Every exposition passes the strict parser."""
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, TestFailure, check,  # noqa: E402
                             connect_expect_close, main)
from http_origin import HttpClient  # noqa: E402
from ops_common import metric, ops_config, scrape  # noqa: E402
from tls_certs import Pki, TlsHttpOrigin, s_client  # noqa: E402

REASONS = ("timeout", "closed", "unsupported_version", "no_shared_cipher", "client_certificate", "peer_alert",
           "protocol_error", "other")


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    other = Pki(os.path.join(t.tmpdir, "other"), name="other", cn="Other CA")
    cert, key = pki.issue("web", "/CN=web.example.test", ["web.example.test"])
    bad_cert, bad_key = other.issue("origin", "/CN=origin.example.test", ["origin.example.test"])
    echo = t.add(TcpEchoServer())
    untrusted = t.add(TlsHttpOrigin(bad_cert, bad_key, name="untrusted-origin"))
    admin, web, tcps, mtls, plain = t.port(), t.port(), t.port(), t.port(), t.port()
    tls = f'{{ certificates: [ {{ cert: "{cert}", key: "{key}" }} ], min_version: "1.2" }}'
    listeners = f"""  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    tls: {tls}
    timeouts: {{ handshake: 1s }}
    routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ]
  - name: tcps
    bind: "127.0.0.1:{tcps}"
    protocol: tcp
    cluster: echo
    tls: {tls}
  - name: mtls
    bind: "127.0.0.1:{mtls}"
    protocol: http
    tls: {{ certificates: [ {{ cert: "{cert}", key: "{key}" }} ], client_ca: "{pki.ca}", client_auth: required }}
    routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ]
  - name: plain
    bind: "127.0.0.1:{plain}"
    protocol: http
    routes: [ {{ cluster: secure }} ]
"""
    clusters = f"""  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
  - name: secure
    endpoints: [ "{untrusted.endpoint}" ]
    tls: {{ ca: "{pki.ca}", sni: origin.example.test }}
"""
    p = t.start_portico(ops_config(admin, listeners, clusters),
                        [ListenerSpec("127.0.0.1", x) for x in (web, tcps, mtls, plain, admin)])

    def hs(s: dict, listener: str, version: str, resumed: str) -> float:
        return metric(s, "portico_tls_handshakes_total", listener=listener, version=version, resumed=resumed)

    def fails(s: dict, listener: str) -> dict:
        return {r: metric(s, "portico_tls_handshake_failures_total", listener=listener, reason=r) for r in REASONS}

    def wait_counts(what: str, pred, timeout: float = 5.0) -> dict:
        """Scrapes until pred(samples) holds (the closing side may count a moment after the client saw the end)."""
        deadline = time.monotonic() + timeout
        while True:
            s = scrape(admin)
            if pred(s):
                return s
            if time.monotonic() > deadline:
                raise TestFailure(f"{what}: metrics did not move\n" +
                                     "\n".join(f"{k} {v}" for k, v in s.items() if "tls" in k[0]))
            time.sleep(0.05)

    s0 = scrape(admin)
    for ln in ("web", "tcps", "mtls"):
        for v in ("1.2", "1.3"):
            for r in ("false", "true"):
                check(hs(s0, ln, v, r) == 0, f"{ln} {v} resumed={r}: not 0 at start")
        check(set(fails(s0, ln).values()) == {0}, f"{ln}: failures not 0 at start: {fails(s0, ln)}")
    check(not any(n == "portico_tls_handshakes_total" and ("listener", "plain") in lbl for (n, lbl) in s0),
          "a plain-text listener has TLS handshake series")
    check(metric(s0, "portico_upstream_tls_handshake_failures_total", cluster="secure") == 0,
          "upstream TLS failures not 0 at start")
    check(not any(n == "portico_upstream_tls_handshake_failures_total" and ("cluster", "echo") in lbl
                  for (n, lbl) in s0), "a plain-text cluster has upstream TLS series")

    # --- full and resumed handshakes, TLS 1.3 then 1.2
    ca = ["-servername", "web.example.test", "-CAfile", pki.ca, "-verify_return_error"]
    req = b"GET / HTTP/1.1\r\nHost: web.example.test\r\nConnection: close\r\n\r\n"
    for extra, ver in (([], "1.3"), (["-tls1_2"], "1.2")):
        sess = os.path.join(t.tmpdir, f"sess{ver}")
        before = scrape(admin)
        rc, out = s_client(web, [*ca, "-sess_out", sess, *extra], req)
        check(rc == 0 and f"New, TLSv{ver}" in out and "HTTP/1.1 200" in out, f"TLS {ver} full:\n{out[-600:]}")
        s = wait_counts(f"TLS {ver} full", lambda s: hs(s, "web", ver, "false") == hs(before, "web", ver, "false") + 1)
        check(hs(s, "web", ver, "true") == hs(before, "web", ver, "true"), f"TLS {ver} full counted as resumed")
        rc, out = s_client(web, [*ca, "-sess_in", sess, *extra], req)
        check(f"Reused, TLSv{ver}" in out and "HTTP/1.1 200" in out, f"TLS {ver} not resumed:\n{out[-600:]}")
        s = wait_counts(f"TLS {ver} resumed", lambda s: hs(s, "web", ver, "true") == hs(before, "web", ver, "true") + 1)
        check(hs(s, "web", ver, "false") == hs(before, "web", ver, "false") + 1,
              f"TLS {ver} resumption counted as a full handshake")
    s = scrape(admin)
    check(set(fails(s, "web").values()) == {0}, f"good handshakes counted as failures: {fails(s, 'web')}")

    # --- tcp listener
    rc, out = s_client(tcps, [*ca], b"ping\n", ign_eof=False)
    check("New, TLSv1.3" in out, f"tcp listener handshake:\n{out[-600:]}")
    wait_counts("tcp listener", lambda s: hs(s, "tcps", "1.3", "false") == 1)

    # --- failures on the http listener, one reason at a time
    def expect_failure(reason: str, action, listener: str = "web") -> None:
        before = fails(scrape(admin), listener)
        action()
        want = dict(before)
        want[reason] += 1
        wait_counts(f"failure {reason}", lambda s: fails(s, listener) == want)

    addr = ("127.0.0.1", web)
    expect_failure("protocol_error", lambda: connect_expect_close(
        addr, 3.0, "plain HTTP", send=b"GET / HTTP/1.1\r\nHost: web.example.test\r\n\r\n"))
    expect_failure("protocol_error", lambda: connect_expect_close(
        addr, 3.0, "garbage", send=b"\x00\x01garbage that is not TLS at all" * 40))
    expect_failure("unsupported_version", lambda: s_client(
        web, ["-servername", "web.example.test", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], req))
    # the client does not trust our certificate: it aborts with an alert (TLS 1.2: OpenSSL's TLS 1.3
    # client sends that alert unencrypted, which the server can only see as a bad record)
    expect_failure("peer_alert", lambda: s_client(
        web, ["-servername", "web.example.test", "-CAfile", other.ca, "-verify_return_error", "-tls1_2"], req))
    # the first bytes of a ClientHello, then EOF
    expect_failure("closed", lambda: _half_hello(addr))
    expect_failure("timeout", lambda: connect_expect_close(addr, 5.0, "silent client"))
    expect_failure("client_certificate", lambda: s_client(mtls, ["-servername", "web.example.test"], req),
                   listener="mtls")

    # a connect-and-close probe (port scan, TCP health check) counts nothing
    before = scrape(admin)
    for _ in range(3):
        socket.create_connection(addr, timeout=5).close()
    time.sleep(0.5)
    after = scrape(admin)
    check(fails(after, "web") == fails(before, "web"), f"a probe counted: {fails(before, 'web')} -> {fails(after, 'web')}")
    check(hs(after, "web", "1.3", "false") == hs(before, "web", "1.3", "false"), "a probe counted as a handshake")

    # --- upstream: the origin's certificate is from another CA
    c = HttpClient(("127.0.0.1", plain))
    r = c.request("GET", "/x", host="plain.example.test")
    check(r.status == 502, f"untrusted upstream: {r.status}")
    c.close()
    s = wait_counts("upstream TLS failure",
                    lambda s: metric(s, "portico_upstream_tls_handshake_failures_total", cluster="secure") >= 1)
    check(metric(s, "portico_upstream_connect_failures_total", cluster="secure")
          >= metric(s, "portico_upstream_tls_handshake_failures_total", cluster="secure"),
          "upstream TLS failures are not also connect failures")
    check(p.alive(), "portico died")


def _half_hello(addr: tuple) -> None:
    s = socket.create_connection(addr, timeout=5)
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 20)
    time.sleep(0.2)  # let portico read it before the FIN
    s.close()


if __name__ == "__main__":
    main(run, "TLS handshake and failure metrics", deadline=90.0)
