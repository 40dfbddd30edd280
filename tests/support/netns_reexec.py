"""Runs the calling e2e script again inside a private network namespace
(`unshare -n`, or `unshare -rn` without root), where only `lo` exists: a test
may then bind a wildcard address (0.0.0.0, ::) without exposing anything on
the host's interfaces. Exits 77 (skipped) where no namespace can be made."""
import os
import shutil
import subprocess
import sys

NETNS_FLAG = "PORTICO_E2E_IN_NETNS"


def reexec_in_netns(script: str) -> None:
    """Returns inside the namespace (lo brought up); never returns outside it."""
    if os.environ.get(NETNS_FLAG) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if not shutil.which("unshare") or not shutil.which("ip"):
        print(f"SKIP {script}: unshare/ip not available", flush=True)
        sys.exit(77)
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
        if probe.returncode != 0:
            print(f"SKIP {script}: cannot create a network namespace: {probe.stderr.decode().strip()}", flush=True)
            sys.exit(77)
        cmd = ["unshare", "-rn"]
    else:
        cmd = ["unshare", "-n"]
    env = dict(os.environ, **{NETNS_FLAG: "1"})
    sys.exit(subprocess.run(cmd + [sys.executable] + sys.argv, env=env).returncode)
