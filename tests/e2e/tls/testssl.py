#!/usr/bin/env python3
"""testssl.sh (Debian's `testssl`, 3.0) against http listeners with `tls:`.

Listener min12 (min_version "1.2"): protocols (-p), every vulnerability
check (-U) and the standard cipher categories (-s). From the JSON report
(--jsonfile): no finding is MEDIUM, HIGH, CRITICAL or FATAL and no scan
problem; SSLv2, SSLv3, TLS 1.0 and TLS 1.1 are "not offered", TLS 1.2 and
1.3 offered; each -U check ran and is OK/INFO/LOW (secure renegotiation
supported, client-initiated renegotiation and TLS compression not); the
NULL/aNULL/EXPORT/LOW/3DES/CBC categories are not offered. Listener min13
(min_version "1.3"), -p only: TLS 1.2 not offered, TLS 1.3 offered. The two
scans run at the same time (one per core).

Cost: a testssl run pays a fixed start-up (hundreds of awk and openssl
forks to map its cipher table onto the local openssl), then a few hundred
handshakes. The subset skips what makes a full run take minutes: -e (each
of 370 ciphers), -E (ciphers per protocol), -S (certificate, with
revocation look-ups), -h (HTTP headers), -c (client simulation), -P.
--fast only shortens -e/-P, so it does not apply. --sneaky, --warnings
batch, no DNS (--nodns none). No --connect-timeout/--openssl-timeout: each
would wrap every connect in timeout(1) (more forks); the test's own budget
bounds a hang. testssl uses the system /usr/bin/openssl (Debian's package
ships none); SSLv2/SSLv3 are probed with its own sockets code."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, TestFailure, TestSkip, base_config, check, log, main  # noqa: E402
from tls_certs import Pki  # noqa: E402

# testssl 3.0 ids of the -U checks (each must be present in the report)
VULN_IDS = ("heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS",
            "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13",
            "RC4")
# -s: cipher categories that must not be offered
WEAK_CATEGORIES = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                   "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")
BAD = ("MEDIUM", "HIGH", "CRITICAL", "FATAL")
BUDGET = 480.0  # seconds for both scans; meson's timeout for this test is 600


def testssl_bin() -> str:
    for name in ("testssl", "testssl.sh"):
        path = shutil.which(name)
        if path:
            return path
    raise TestSkip("testssl.sh is not installed (scripts/setup test installs Debian's testssl.sh)")


def start_testssl(t: TestContext, port: int, checks: list[str], tag: str) -> tuple:
    out = os.path.join(t.tmpdir, f"testssl-{tag}.json")
    logf = os.path.join(t.tmpdir, f"testssl-{tag}.log")
    cmd = [testssl_bin(), "--quiet", "--color", "0", "--warnings", "batch", "--sneaky", "--nodns", "none",
           "--jsonfile", out, *checks, f"127.0.0.1:{port}"]
    lf = open(logf, "w")
    p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TERM": "dumb"}, start_new_session=True)
    return p, lf, out, logf, tag, time.monotonic()


def finish_testssl(run: tuple, budget_end: float) -> dict:
    """Waits for a scan started by start_testssl; returns {id: finding entry}."""
    p, lf, out, logf, tag, start = run
    try:
        p.wait(timeout=max(1.0, budget_end - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise TestFailure(f"testssl {tag} did not finish in time (log: {logf}):\n{open(logf).read()[-2000:]}")
    finally:
        lf.close()
    log(f"testssl {tag}: exit {p.returncode} after {time.monotonic() - start:.1f}s")
    text = open(logf).read()
    check(os.path.exists(out), f"testssl {tag}: no JSON report (exit {p.returncode}):\n{text[-3000:]}")
    entries = json.load(open(out))
    check(isinstance(entries, list) and entries, f"testssl {tag}: empty report:\n{text[-3000:]}")
    by_id: dict = {}
    for e in entries:
        by_id.setdefault(e.get("id"), e)
    # engine_problem (WARN) is about the local openssl (no GOST engine), not the server
    bad = [e for e in entries if e.get("severity") in BAD or e.get("id") == "scanProblem"]
    check(not bad, f"testssl {tag} flags problems:\n" + "\n".join(json.dumps(e) for e in bad) + "\n" + text[-3000:])
    return by_id


def finding(by_id: dict, key: str) -> str:
    check(key in by_id, f"testssl report has no {key!r}: ids {sorted(k for k in by_id if k)}")
    return by_id[key].get("finding", "")


def run(t: TestContext) -> None:
    testssl_bin()
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    cert, key = pki.issue("web", "/CN=localhost", ["localhost"])
    min12, min13 = t.port(), t.port()
    listeners = ""
    for name, port, version in (("min12", min12, "1.2"), ("min13", min13, "1.3")):
        listeners += f"""  - name: {name}
    bind: "127.0.0.1:{port}"
    protocol: http
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}" }} ]
      min_version: "{version}"
    timeouts: {{ handshake: 5s }}
    routes: [ {{ respond: {{ status: 200, body: "ok\\n" }} }} ]
"""
    cfg = base_config(listeners)
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", min12), ListenerSpec("127.0.0.1", min13)])
    # Both scans use ~100 s of CPU (mostly forks), ~50 s wall on 2 idle cores (estimate); measured
    # 163-242 s wall at load average 9-16. The budget allows for a loaded machine.
    budget_end = time.monotonic() + BUDGET
    scans = [start_testssl(t, min12, ["--protocols", "--vulnerable", "--std"], "min12"),
             start_testssl(t, min13, ["--protocols"], "min13")]
    try:
        r12 = finish_testssl(scans[0], budget_end)
        r13 = finish_testssl(scans[1], budget_end)
    finally:
        for sc in scans:
            if sc[0].poll() is None:
                os.killpg(sc[0].pid, signal.SIGKILL)
                sc[0].wait()

    r = r12
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        check(finding(r, proto).startswith("not offered"), f"{proto}: {finding(r, proto)!r}, want not offered")
    for proto in ("TLS1_2", "TLS1_3"):
        check(finding(r, proto).startswith("offered"), f"{proto}: {finding(r, proto)!r}, want offered")
    for vid in VULN_IDS:
        check(vid in r and r[vid].get("severity") in ("OK", "INFO", "LOW"), f"vulnerability check {vid}: {r.get(vid)}")
    for cat in WEAK_CATEGORIES:
        check(finding(r, cat).startswith("not offered"), f"{cat}: {finding(r, cat)!r}")
    check(finding(r, "secure_renego").startswith("supported"), f"secure renegotiation: {finding(r, 'secure_renego')!r}")
    check(finding(r, "secure_client_renego").startswith("not vulnerable"),
          f"client-initiated renegotiation: {finding(r, 'secure_client_renego')!r}")
    check(finding(r, "CRIME_TLS").startswith("not vulnerable"), f"TLS compression: {finding(r, 'CRIME_TLS')!r}")

    r = r13
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"):
        check(finding(r, proto).startswith("not offered"), f"min 1.3: {proto}: {finding(r, proto)!r}")
    check(finding(r, "TLS1_3").startswith("offered"), f"min 1.3: TLS1_3: {finding(r, 'TLS1_3')!r}")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, "testssl.sh against TLS listeners (min_version 1.2 and 1.3)", deadline=BUDGET + 60)
