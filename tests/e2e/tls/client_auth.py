#!/usr/bin/env python3
"""Client certificates: with client_auth required, a client without a
certificate or with one from another CA is refused, one signed by client_ca
is accepted and its verified subject (RFC 2253) reaches the origin in
client_subject_header, also on a resumed session; a header of that name sent
by the client never reaches the origin. With client_auth optional a client
without a certificate is served (no subject header)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, base_config, check, main  # noqa: E402
from http_origin import HttpOrigin, curl, header_all  # noqa: E402
from tls_certs import Pki, s_client  # noqa: E402


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    cert, key = pki.issue("srv", "/CN=mtls.example.test", ["mtls.example.test"])
    clients = Pki(os.path.join(t.tmpdir, "clients"), name="clientca", cn="Client CA")
    alice = clients.issue("alice", "/O=Example/CN=alice", client=True)
    mallory = pki.issue("mallory", "/O=Example/CN=mallory", client=True)  # wrong CA
    origin = t.add(HttpOrigin(name="origin"))
    req_port, opt_port = t.port(), t.port()
    cfg = base_config(f"""  - name: required
    bind: "127.0.0.1:{req_port}"
    protocol: http
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}" }} ]
      client_ca: "{clients.ca}"
      client_auth: required
    routes: [ {{ cluster: app }} ]
  - name: optional
    bind: "127.0.0.1:{opt_port}"
    protocol: http
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}" }} ]
      client_ca: "{clients.ca}"
      client_auth: optional
      client_subject_header: X-SSL-Subject
    routes: [ {{ cluster: app }} ]
""", f"""  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}
""", log_level="debug")
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", req_port), ListenerSpec("127.0.0.1", opt_port)])

    def req(path: str, extra: str = "") -> bytes:
        return (f"GET {path} HTTP/1.1\r\nHost: mtls.example.test\r\n{extra}Connection: close\r\n\r\n").encode()

    base = ["-servername", "mtls.example.test", "-CAfile", pki.ca]
    # required: no certificate
    rc, out = s_client(req_port, base, req("/nocert"))
    check("HTTP/1.1 200" not in out and not origin.reqs("/nocert"), f"required: served without a certificate\n{out[-600:]}")
    # required: a certificate from another CA
    rc, out = s_client(req_port, [*base, "-cert", mallory[0], "-key", mallory[1]], req("/mallory"))
    check("HTTP/1.1 200" not in out and not origin.reqs("/mallory"), f"required: wrong CA accepted\n{out[-600:]}")
    # required: alice, with a spoofed subject header
    url = f"https://mtls.example.test:{req_port}"
    curl_base = ["--cacert", pki.ca, "--resolve", f"mtls.example.test:{req_port}:127.0.0.1",
                 "--resolve", f"mtls.example.test:{opt_port}:127.0.0.1"]
    status, _, _ = curl([*curl_base, "--cert", alice[0], "--key", alice[1], "-H", "X-Client-Subject: CN=root",
                         f"{url}/alice"])
    check(status == 200, f"required with alice: {status}")
    q = origin.reqs("/alice")[-1]
    check(header_all(q.headers, "X-Client-Subject") == ["CN=alice,O=Example"],
          f"subject at the origin: {header_all(q.headers, 'X-Client-Subject')}")
    # the subject survives resumption
    sess = os.path.join(t.tmpdir, "sess")
    rc, out = s_client(req_port, [*base, "-cert", alice[0], "-key", alice[1], "-sess_out", sess], req("/first"))
    check("HTTP/1.1 200" in out, f"s_client with alice:\n{out[-600:]}")
    rc, out = s_client(req_port, [*base, "-sess_in", sess], req("/resumed"))
    check("Reused, TLSv1.3" in out and "HTTP/1.1 200" in out, f"alice not resumed:\n{out[-800:]}")
    q = origin.reqs("/resumed")[-1]
    check(q.header("X-Client-Subject") == "CN=alice,O=Example", f"resumed subject: {q.header('X-Client-Subject')}")

    # optional: no certificate is fine, and a spoofed header is dropped
    status, _, _ = curl([*curl_base, "-H", "X-SSL-Subject: CN=root", f"https://mtls.example.test:{opt_port}/anon"])
    check(status == 200, f"optional without a certificate: {status}")
    q = origin.reqs("/anon")[-1]
    check(q.header("X-SSL-Subject") is None, f"spoofed subject reached the origin: {q.header('X-SSL-Subject')}")
    status, _, _ = curl([*curl_base, "--cert", alice[0], "--key", alice[1], f"https://mtls.example.test:{opt_port}/opt"])
    check(status == 200 and origin.reqs("/opt")[-1].header("X-SSL-Subject") == "CN=alice,O=Example",
          f"optional with alice: {status} {origin.reqs('/opt')[-1].header('X-SSL-Subject') if origin.reqs('/opt') else None}")
    # optional still refuses an untrusted certificate
    rc, out = s_client(opt_port, [*base, "-cert", mallory[0], "-key", mallory[1]], req("/mallory2"))
    check("HTTP/1.1 200" not in out and not origin.reqs("/mallory2"), f"optional: wrong CA accepted\n{out[-600:]}")


if __name__ == "__main__":
    main(run, "TLS client certificates: required/optional, subject header to the origin", deadline=90.0)
