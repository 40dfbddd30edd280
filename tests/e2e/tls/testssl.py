#!/usr/bin/env python3
"""testssl.sh (Debian's `testssl`) against an http listener with `tls:`.

min_version "1.2": protocols (-p), vulnerabilities (-U) and the standard
cipher categories (-s) are checked; from its JSON report (--jsonfile) no
finding is MEDIUM, HIGH or CRITICAL (nor a scan problem), SSLv2, SSLv3,
TLS 1.0 and TLS 1.1 are "not offered", TLS 1.2 and 1.3 are offered, every
-U check ran, and the NULL/aNULL/EXPORT/LOW/3DES/CBC categories are not
offered. Then min_version "1.3" (a reload): -p shows TLS 1.2 not offered,
TLS 1.3 offered.

The subset keeps one run under ~60 s on 2 cores: the slow parts of a full
run (-e: each of 370 ciphers, -E: ciphers per protocol, -S certificate
checks with revocation look-ups, -h HTTP headers, client simulation -c) are
left out; --fast is not used (3.0 drops checks with it); --sneaky,
--warnings batch, no DNS (--nodns none) and short socket timeouts."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, TestFailure, TestSkip, check, log, main  # noqa: E402
from tls_certs import Pki  # noqa: E402

# testssl 3.0 ids of the -U checks (each must be present in the report)
VULN_IDS = ("heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS",
            "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13",
            "RC4")
# -s: cipher categories that must not be offered
WEAK_CATEGORIES = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                   "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")
BAD = ("MEDIUM", "HIGH", "CRITICAL", "FATAL")


def testssl_bin() -> str:
    for name in ("testssl", "testssl.sh"):
        path = shutil.which(name)
        if path:
            return path
    raise TestSkip("testssl.sh is not installed (scripts/setup test installs Debian's testssl.sh)")


def run_testssl(t: TestContext, port: int, checks: list[str], tag: str, budget: float) -> dict:
    """Runs testssl with `checks` against 127.0.0.1:port; returns {id: finding entry}."""
    out = os.path.join(t.tmpdir, f"testssl-{tag}.json")
    logf = os.path.join(t.tmpdir, f"testssl-{tag}.log")
    cmd = [testssl_bin(), "--quiet", "--color", "0", "--warnings", "batch", "--sneaky", "--nodns", "none",
           "--connect-timeout", "5", "--openssl-timeout", "5", "--jsonfile", out, *checks, f"127.0.0.1:{port}"]
    start = time.monotonic()
    with open(logf, "w") as lf:
        try:
            p = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=budget,
                               env={**os.environ, "TERM": "dumb"})
        except subprocess.TimeoutExpired:
            raise TestFailure(f"testssl {tag} did not finish in {budget:.0f}s (log: {logf})")
    secs = time.monotonic() - start
    log(f"testssl {tag}: exit {p.returncode} after {secs:.1f}s")
    text = open(logf).read()
    check(os.path.exists(out), f"testssl {tag}: no JSON report (exit {p.returncode}):\n{text[-3000:]}")
    entries = json.load(open(out))
    check(isinstance(entries, list) and entries, f"testssl {tag}: empty report:\n{text[-3000:]}")
    by_id: dict = {}
    for e in entries:
        by_id.setdefault(e.get("id"), e)
    bad = [e for e in entries if e.get("severity") in BAD or e.get("id") in ("scanProblem", "engine_problem")]
    check(not bad, f"testssl {tag} flags problems:\n" + "\n".join(json.dumps(e) for e in bad) + "\n" + text[-3000:])
    return by_id


def finding(by_id: dict, key: str) -> str:
    check(key in by_id, f"testssl report has no {key!r}: ids {sorted(k for k in by_id if k)}")
    return by_id[key].get("finding", "")


def run(t: TestContext) -> None:
    testssl_bin()
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    cert, key = pki.issue("web", "/CN=localhost", ["localhost"])
    port = t.port()

    def cfg(min_version: str) -> str:
        return f"""workers: 2
event_loop: auto
drain_timeout: 5s
log: {{ level: info }}
admin: {{ bind: null }}
listeners:
  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}" }} ]
      min_version: "{min_version}"
    timeouts: {{ handshake: 5s }}
    routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ]
clusters: []
"""

    p = t.start_portico(cfg("1.2"), [ListenerSpec("127.0.0.1", port)])
    r = run_testssl(t, port, ["--protocols", "--vulnerable", "--std"], "min12", budget=150)
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        check(finding(r, proto).startswith("not offered"), f"{proto}: {finding(r, proto)!r}, want not offered")
    for proto in ("TLS1_2", "TLS1_3"):
        check(finding(r, proto).startswith("offered"), f"{proto}: {finding(r, proto)!r}, want offered")
    for vid in VULN_IDS:
        check(r[vid]["severity"] in ("OK", "INFO", "LOW") if vid in r else False,
              f"vulnerability check {vid}: {r.get(vid)}")
    for cat in WEAK_CATEGORIES:
        check(finding(r, cat).startswith("not offered"), f"{cat}: {finding(r, cat)!r}")
    check("not vulnerable" in finding(r, "secure_client_renego") or
          "not" in finding(r, "secure_client_renego"),
          f"client-initiated renegotiation: {finding(r, 'secure_client_renego')!r}")
    check(finding(r, "secure_renego").startswith("supported"), f"secure renegotiation: {finding(r, 'secure_renego')!r}")
    check("not vulnerable" in finding(r, "CRIME_TLS"), f"TLS compression: {finding(r, 'CRIME_TLS')!r}")

    result, text = p.reload(cfg("1.3"))
    check(result == "ok", f"reload to min_version 1.3 failed:\n{text}")
    r = run_testssl(t, port, ["--protocols"], "min13", budget=60)
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"):
        check(finding(r, proto).startswith("not offered"), f"min 1.3: {proto}: {finding(r, proto)!r}")
    check(finding(r, "TLS1_3").startswith("offered"), f"min 1.3: TLS1_3: {finding(r, 'TLS1_3')!r}")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, "testssl.sh against a TLS listener (min_version 1.2, then 1.3)", deadline=230.0)
