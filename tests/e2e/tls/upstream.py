#!/usr/bin/env python3
"""Upstream TLS (cluster tls) to python ssl origins: verified against the
cluster's CA and sni (or the endpoint's IP SAN without sni) and served;
a wrong CA and a wrong name give 502 and the origin sees the failed
handshake; verify: false accepts any certificate; mutual TLS: a cluster with
cert/key is accepted by an origin that requires a client certificate (its
subject seen there), one without is refused (502); bodies of a few MiB both
ways; pooled keep-alive connections are reused, and new connections to an
origin that closes after each response resume the TLS session."""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import MiB, ListenerSpec, Pattern, TestContext, check, main  # noqa: E402
from http_origin import HttpClient  # noqa: E402
from tls_certs import Pki, TlsHttpOrigin  # noqa: E402


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    other = Pki(os.path.join(t.tmpdir, "other"), name="other", cn="Other CA")
    clients = Pki(os.path.join(t.tmpdir, "clients"), name="clientca", cn="Client CA")
    cert, key = pki.issue("origin", "/CN=origin.example.test", ["origin.example.test"], ips=["127.0.0.1"])
    client = clients.issue("portico", "/O=Edge/CN=portico", client=True)
    origin = t.add(TlsHttpOrigin(cert, key, name="tls-origin"))
    closing = t.add(TlsHttpOrigin(cert, key, name="closing-origin", close_after_each=True))
    mtls = t.add(TlsHttpOrigin(cert, key, client_ca=clients.ca, name="mtls-origin"))
    port = t.port()
    routes = ["good", "byip", "wrongca", "wrongname", "noverify", "mtls", "nocert", "closing"]
    route_yaml = "\n".join(f'      - {{ match: {{ path_prefix: "/{r}/" }}, cluster: {r} }}' for r in routes)
    cfg = f"""workers: 1
event_loop: auto
drain_timeout: 5s
log: {{ level: debug }}
admin: {{ bind: null }}
listeners:
  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
{route_yaml}
clusters:
  - {{ name: good, endpoints: [ "{origin.endpoint}" ], tls: {{ ca: "{pki.ca}", sni: origin.example.test }} }}
  - {{ name: byip, endpoints: [ "{origin.endpoint}" ], tls: {{ ca: "{pki.ca}" }} }}
  - {{ name: wrongca, endpoints: [ "{origin.endpoint}" ], tls: {{ ca: "{other.ca}", sni: origin.example.test }} }}
  - {{ name: wrongname, endpoints: [ "{origin.endpoint}" ], tls: {{ ca: "{pki.ca}", sni: wrong.example.test }} }}
  - {{ name: noverify, endpoints: [ "{origin.endpoint}" ], tls: {{ verify: false }} }}
  - name: mtls
    endpoints: [ "{mtls.endpoint}" ]
    tls: {{ ca: "{pki.ca}", sni: origin.example.test, cert: "{client[0]}", key: "{client[1]}" }}
  - {{ name: nocert, endpoints: [ "{mtls.endpoint}" ], tls: {{ ca: "{pki.ca}", sni: origin.example.test }} }}
  - {{ name: closing, endpoints: [ "{closing.endpoint}" ], tls: {{ ca: "{pki.ca}", sni: origin.example.test }} }}
"""
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    with HttpClient(("127.0.0.1", port), timeout=10) as c:
        for i in range(3):
            r = c.request("GET", f"/good/g{i}")
            check(r.status == 200, f"good {i}: {r.status}")
        check(origin.accepted == 1, f"pooled TLS connection not reused: {origin.accepted} connections")
        j = r.json()
        check(j["target"] == "/good/g2", f"origin saw {j['target']}")
        r = c.request("GET", "/byip/x")
        check(r.status == 200, f"verified by IP SAN: {r.status}")
        n = 3 * MiB + 5
        r = c.request("GET", f"/good/big?n={n}&seed=6")
        check(r.status == 200 and r.body_len == n and r.body_sha == Pattern(6).sha256(n),
              f"big download over upstream TLS: {r.status} {r.body_len}")
        up = Pattern(8).chunk(0, 3 * MiB)
        r = c.request("POST", "/good/sink", body=up)
        j = r.json()
        check(r.status == 200 and j["len"] == len(up) and j["sha256"] == hashlib.sha256(up).hexdigest(),
              f"upload over upstream TLS: {r.status} {j}")
        failures = origin.handshake_failures
        r = c.request("GET", "/wrongca/x")
        check(r.status == 502, f"wrong CA: {r.status}")
    # 502 closes the client connection: new clients from here
    with HttpClient(("127.0.0.1", port), timeout=10) as c:
        r = c.request("GET", "/wrongname/x")
        check(r.status == 502, f"wrong name: {r.status}")
    for _ in range(50):  # the origin's threads see the aborted handshakes a moment later
        if origin.handshake_failures >= failures + 2:
            break
        time.sleep(0.05)
    check(origin.handshake_failures >= failures + 2, f"origin saw {origin.handshake_failures - failures} failed handshakes")
    check(not [q for q in origin.reqs() if q.path.startswith("/wrong")], "a request crossed an unverified connection")
    with HttpClient(("127.0.0.1", port), timeout=10) as c:
        r = c.request("GET", "/noverify/x")
        check(r.status == 200, f"verify false: {r.status}")
        r = c.request("GET", "/mtls/x")
        check(r.status == 200, f"mTLS: {r.status}")
        check(mtls.client_subjects and "commonName=portico" in mtls.client_subjects[-1],
              f"mTLS origin saw {mtls.client_subjects}")
        r = c.request("GET", "/nocert/x")
        check(r.status == 502, f"mTLS origin without a client certificate: {r.status}")
    with HttpClient(("127.0.0.1", port), timeout=10) as c:
        for i in range(4):
            r = c.request("GET", f"/closing/c{i}")
            check(r.status == 200, f"closing origin {i}: {r.status}")
    check(closing.accepted >= 4, f"closing origin connections: {closing.accepted}")
    check(closing.resumed >= 2, f"sessions resumed on new upstream connections: {closing.resumed} of {closing.accepted}")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, "upstream TLS: verification, names, mTLS, session reuse", deadline=90.0)
