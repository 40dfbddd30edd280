#!/usr/bin/env python3
"""Packaging: what the container image and the systemd unit ship, run for real.

- conf/packaging/portico.yaml, the image's config, as the file is (only its
  ${PORTICO_*} variables set, to a loopback port, a free admin port and, as root,
  user nobody): `portico -t` accepts it (the image build runs the same check), it
  starts, answers on the listener, drops privileges, and the Dockerfile's own
  HEALTHCHECK command, taken from the Dockerfile and run as written (admin port
  swapped), passes while portico is ready and fails once it drains (POST /drain).
- conf/packaging/portico.service: `systemd-analyze verify` finds nothing to say
  (unknown keys or bad values would be named), and its ExecStartPre check
  (`portico -t -c ...`) passes on the packaged config.
Docker itself does not run here (no daemon, no registry): the image build is not
exercised, everything it runs is."""
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import admin  # noqa: E402
from portico_harness import ListenerSpec, TestContext, check, log, main, run_portico_cmd  # noqa: E402
from http_origin import HttpClient  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
PACKAGING = os.path.join(ROOT, "conf", "packaging")


def healthcheck_argv(admin_port: int) -> list[str]:
    """The Dockerfile's HEALTHCHECK CMD (exec form), with the admin port swapped in."""
    text = open(os.path.join(PACKAGING, "Dockerfile")).read().replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$", text, re.M)
    check(m is not None, "the Dockerfile has a HEALTHCHECK in exec form")
    argv = json.loads(m.group(1))
    check(any("9901" in a for a in argv), f"the HEALTHCHECK names the admin port 9901: {argv}")
    return [a.replace("9901", str(admin_port)) for a in argv]


def run_healthcheck(argv: list[str]) -> int:
    check(os.path.exists(argv[0]), f"the HEALTHCHECK's interpreter {argv[0]} exists")
    return subprocess.run(argv, capture_output=True, timeout=10).returncode


def run(t: TestContext) -> None:
    web, ap = t.port(), t.port()
    env = {"PORTICO_BIND": f"127.0.0.1:{web}", "PORTICO_ADMIN_BIND": f"127.0.0.1:{ap}",
           "PORTICO_WORKERS": "2", "PORTICO_DRAIN_TIMEOUT": "3s"}
    as_root = os.geteuid() == 0
    env["PORTICO_USER"] = "nobody" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    config = open(os.path.join(PACKAGING, "portico.yaml")).read()

    # The unit's ExecStartPre and the image build's check: portico -t on the packaged file.
    r = run_portico_cmd(t, ["-t", "-c", os.path.join(PACKAGING, "portico.yaml")], env=env)
    check(r.returncode == 0, f"portico -t on conf/packaging/portico.yaml: exit {r.returncode}: {r.stderr}")

    # systemd-analyze verify on the unit, pointed at this build's binary.
    sa = shutil.which("systemd-analyze")  # package systemd, installed by scripts/setup test
    check(sa is not None, "systemd-analyze is not installed (scripts/setup test installs systemd)")
    unit_text = open(os.path.join(PACKAGING, "portico.service")).read()
    check("/usr/local/bin/portico" in unit_text, "the unit runs /usr/local/bin/portico")
    unit = os.path.join(t.tmpdir, "portico.service")
    with open(unit, "w") as f:
        f.write(unit_text.replace("/usr/local/bin/portico", t.portico))
    v = subprocess.run([sa, "verify", unit], capture_output=True, text=True, timeout=60)
    said = [ln for ln in (v.stdout + v.stderr).splitlines() if "portico.service" in ln]
    check(v.returncode == 0 and not said, f"systemd-analyze verify: exit {v.returncode}: {said}")
    pre = re.search(r"^ExecStartPre=(\S+) (.*)$", unit_text, re.M)
    check(pre is not None and pre.group(1) == "/usr/local/bin/portico", "the unit checks the config first")
    log(f"systemd-analyze verify: clean; ExecStartPre: {pre.group(0)}")

    if not as_root:
        log(f"not root (uid {os.geteuid()}): the packaged config's `user:` cannot be exercised; stopping here")
        return
    p = t.start_portico(config, [ListenerSpec("127.0.0.1", web), ListenerSpec("127.0.0.1", ap)],
                        name="packaged", env=env)
    p.wait_log(r"privileges dropped user=nobody", what="the privilege drop")
    with HttpClient(("127.0.0.1", web)) as c:
        resp = c.request("GET", "/healthz")
        check(resp.status == 200 and resp.body == b"ok\n", f"/healthz on the listener: {resp.status} {resp.body!r}")
        resp = c.request("GET", "/anything")
        check(resp.status == 200 and b"portico is running" in resp.body, f"default route: {resp.status}")

    hc = healthcheck_argv(ap)
    rc = run_healthcheck(hc)
    check(rc == 0, f"the Dockerfile's HEALTHCHECK fails against a ready portico (exit {rc}): {hc}")
    log("HEALTHCHECK passes while ready")
    st, _, _ = admin(ap, "/drain", method="POST")
    check(st in (200, 202), f"POST /drain: {st}")
    deadline = time.monotonic() + 3
    while p.alive() and time.monotonic() < deadline:
        rc = run_healthcheck(hc)
        if rc != 0:
            break
        time.sleep(0.1)
    check(rc != 0, "the HEALTHCHECK still passed while portico drained")
    log(f"HEALTHCHECK fails while draining (exit {rc})")
    code = p.wait_exit(10)
    check(code == 0, f"portico exited {code} after the drain")


if __name__ == "__main__":
    main(run, __doc__)
