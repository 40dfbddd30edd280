#!/usr/bin/env python3
"""Certificates change with SIGHUP: a keep-alive TLS connection opened before
the reload keeps working (it keeps its old context), new connections get the
new certificate; a reload whose key does not match its certificate fails
naming the file and the running certificates keep serving; a session ticket
issued before a reload (same certificates) still resumes after it. `portico -t`
refuses a key that does not match its certificate, an expired certificate
and an unreadable file, naming the file each time."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, base_config, check, check_config, main  # noqa: E402
from tls_certs import Pki, TlsHttpClient, s_client  # noqa: E402


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    v1 = pki.issue("v1", "/O=v1/CN=r.example.test", ["r.example.test"])
    v2 = pki.issue("v2", "/O=v2/CN=r.example.test", ["r.example.test"], rsa=True)
    other = pki.issue("other", "/CN=other.example.test", ["other.example.test"])
    expired = pki.issue("expired", "/CN=old.example.test", ["old.example.test"], days=-1)
    live_cert = os.path.join(t.tmpdir, "live.pem")
    live_key = os.path.join(t.tmpdir, "live.key")
    shutil.copy(v1[0], live_cert)
    shutil.copy(v1[1], live_key)
    port = t.port()

    def cfg(cert: str, key: str) -> str:
        return base_config(f"""  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}" }} ]
    routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ]
""")

    # --- portico -t
    def check_t(cert: str, key: str, want: list[str], what: str) -> None:
        check_config(t, cfg(cert, key), want, what)
    check_t(v1[0], v1[1], [], "valid")
    check_t(v1[0], other[1], [other[1], "does not match"], "mismatched key")
    check_t(expired[0], expired[1], [expired[0], "expired"], "expired certificate")
    missing = os.path.join(t.tmpdir, "missing.pem")
    check_t(missing, v1[1], [missing], "missing file")
    unreadable = os.path.join(t.tmpdir, "dir.pem")
    os.mkdir(unreadable)
    check_t(unreadable, v1[1], [unreadable], "a directory as the certificate")

    # --- reload under an open connection
    p = t.start_portico(cfg(live_cert, live_key), [ListenerSpec("127.0.0.1", port)])
    old = TlsHttpClient(port, pki.ca, "r.example.test")
    check("O = v1" in old.subject(), f"before reload: {old.subject()}")
    check(old.request("GET", "/1").status == 200, "first request")
    shutil.copy(v2[0], live_cert)
    shutil.copy(v2[1], live_key)
    result, log = p.reload(cfg(live_cert, live_key))
    check(result == "ok", f"reload: {result}: {log}")
    with TlsHttpClient(port, pki.ca, "r.example.test") as new:
        check("O = v2" in new.subject(), f"after reload: {new.subject()}")
        check(new.request("GET", "/2").status == 200, "request on a new connection")
    check(old.request("GET", "/3").status == 200, "the connection opened before the reload broke")
    old.close()

    # --- a broken reload keeps the running certificates
    shutil.copy(other[1], live_key)
    result, log = p.reload(cfg(live_cert, live_key))
    check(result == "failed" and live_key in log and "does not match" in log, f"bad reload: {result}: {log}")
    with TlsHttpClient(port, pki.ca, "r.example.test") as c:
        check("O = v2" in c.subject(), f"after a failed reload: {c.subject()}")
        check(c.request("GET", "/4").status == 200, "request after a failed reload")

    # --- ticket keys survive a reload (same certificates, same listener name)
    shutil.copy(v2[1], live_key)
    sess = os.path.join(t.tmpdir, "sess")
    req = b"GET / HTTP/1.1\r\nHost: r.example.test\r\nConnection: close\r\n\r\n"
    args = ["-servername", "r.example.test", "-CAfile", pki.ca]
    rc, out = s_client(port, [*args, "-sess_out", sess], req)
    check("HTTP/1.1 200" in out, f"before the reload:\n{out[-600:]}")
    result, log = p.reload(cfg(live_cert, live_key))
    check(result == "ok", f"reload: {result}: {log}")
    rc, out = s_client(port, [*args, "-sess_in", sess], req)
    check("Reused, TLSv1.3" in out and "HTTP/1.1 200" in out, f"ticket from before the reload not resumed:\n{out[-800:]}")


if __name__ == "__main__":
    main(run, "TLS certificate reload with SIGHUP, portico -t certificate checks", deadline=60.0)
