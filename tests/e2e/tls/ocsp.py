#!/usr/bin/env python3
"""OCSP stapling: a CA, a leaf and a DER OCSP response made with `openssl ocsp`
(an index file, -respout) are configured as the certificate's `ocsp`;
`openssl s_client -status` sees the stapled response (OCSP Response Status:
successful, Cert Status: good) over TLS 1.3 and TLS 1.2, and it verifies
against the CA; a second certificate without `ocsp` staples nothing; a
reload with a new response file (revoked) staples the new one. `portico -t`
refuses a missing OCSP file, a directory and a PEM (not DER) file, naming the
file, and accepts the good config."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, base_config, check, check_config, main  # noqa: E402
from tls_certs import Pki, s_client  # noqa: E402


def stapled(out: str) -> str:
    """The OCSP block s_client -status prints ("" when none was sent)."""
    if "OCSP response: no response sent" in out:
        return ""
    i = out.find("OCSP Response Data:")
    return out[i:i + 2000] if i >= 0 else ""


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    a_cert, a_key = pki.issue("a", "/CN=a.example.test", ["a.example.test"])
    b_cert, b_key = pki.issue("b", "/CN=b.example.test", ["b.example.test"], rsa=True)
    good = pki.ocsp_response(a_cert, os.path.join(pki.dir, "a-good.der"))
    revoked = pki.ocsp_response(a_cert, os.path.join(pki.dir, "a-revoked.der"), revoked=True)
    live = os.path.join(t.tmpdir, "a.ocsp")  # what the config names; replaced before the reload
    shutil.copy(good, live)
    port = t.port()

    def cfg(ocsp: str) -> str:
        return base_config(f"""  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    tls:
      certificates:
        - {{ cert: "{a_cert}", key: "{a_key}", ocsp: "{ocsp}" }}
        - {{ cert: "{b_cert}", key: "{b_key}" }}
    routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ]
""")

    # --- portico -t: bad OCSP files are refused with the file named
    def check_t(ocsp: str, want: list[str], what: str) -> None:
        check_config(t, cfg(ocsp), want, what)

    check_t(live, [], "good OCSP response")
    missing = os.path.join(t.tmpdir, "missing.ocsp")
    check_t(missing, [missing, "cannot open"], "missing OCSP file")
    directory = os.path.join(t.tmpdir, "dir.ocsp")
    os.mkdir(directory)
    check_t(directory, [directory], "a directory as the OCSP file")
    check_t(a_cert, [a_cert, "not a DER OCSP response"], "a PEM file as the OCSP response")

    # --- stapling
    p = t.start_portico(cfg(live), [ListenerSpec("127.0.0.1", port)])
    req = b"GET / HTTP/1.1\r\nHost: a.example.test\r\nConnection: close\r\n\r\n"
    for extra, ver in (([], "1.3"), (["-tls1_2"], "1.2")):
        rc, out = s_client(port, ["-status", "-servername", "a.example.test", "-CAfile", pki.ca,
                                  "-verify_return_error", *extra], req)
        check(rc == 0 and f"New, TLSv{ver}" in out and "HTTP/1.1 200" in out, f"TLS {ver}:\n{out[-800:]}")
        block = stapled(out)
        check("OCSP Response Status: successful" in block, f"TLS {ver}: no stapled response:\n{out[:2500]}")
        check("Cert Status: good" in block, f"TLS {ver}: stapled status is not good:\n{block}")
    # without -status nothing is asked for; b.example.test has no response to staple
    rc, out = s_client(port, ["-status", "-servername", "b.example.test", "-CAfile", pki.ca], req)
    check("HTTP/1.1 200" in out and "CN = b.example.test" in out, f"b.example.test:\n{out[-800:]}")
    check(stapled(out) == "" and "OCSP response: no response sent" in out,
          f"b.example.test (no ocsp) stapled something:\n{out[:2500]}")
    # the stapled bytes are exactly the file's
    der = open(good, "rb").read()
    r = subprocess.run(["openssl", "ocsp", "-respin", live, "-resp_text", "-noverify"], capture_output=True,
                       text=True, timeout=10)
    check("Cert Status: good" in r.stdout and len(der) > 100, f"response file: {r.stdout[:500]}")

    # --- reload with a new response (here: revoked) is stapled from then on
    shutil.copy(revoked, live)
    result, text = p.reload(cfg(live))
    check(result == "ok", f"reload failed:\n{text}")
    rc, out = s_client(port, ["-status", "-servername", "a.example.test", "-CAfile", pki.ca], req)
    check("Cert Status: revoked" in stapled(out), f"after reload: not the new response:\n{out[:2500]}")
    # a reload naming a missing OCSP file is refused and the running config keeps stapling
    result, text = p.reload(cfg(missing))
    check(result == "failed" and missing in text, f"reload with a missing OCSP file: {result}\n{text}")
    rc, out = s_client(port, ["-status", "-servername", "a.example.test", "-CAfile", pki.ca], req)
    check("OCSP Response Status: successful" in stapled(out), f"after a failed reload:\n{out[:2500]}")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, "OCSP stapling: stapled response, -t refusals, reload", deadline=60.0)
