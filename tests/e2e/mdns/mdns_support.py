"""Helpers for the mDNS e2e tests: a pair of network namespaces joined by a veth pair, and
portico (or any peer) run inside one of them.

Multicast never touches the host's interfaces: every test creates two namespaces with
unique names, one veth pair between them (IPv4 10.<a>.<b>.1/.2 /24, IPv6 link-local
fe80::a / fe80::b without DAD), runs its programs with `ip netns exec`, and removes the
namespaces in `finally` (NetnsPair is a context manager). Needs root: without permission
for `ip netns add` the test is skipped (exit 77).

portico's mDNS log lines (docs/config.md "mdns"), matched here:
    mdns: started host=<h>.local interfaces=<if> ...
    mdns: established host=<h>.local services="<name>",...
    mdns: added type=<t> instance="<name>" host=<host> port=<p> interface=<if> addresses=<a,b> txt="..."
    mdns: removed type=<t> instance="<name>" host=<host> port=<p> interface=<if>
    mdns: renamed service "<old>" -> "<new>" type=<t>  /  mdns: renamed host <old> -> <new>
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import Portico, TestContext, TestFailure, TestSkip, check, log  # noqa: E402,F401


def run_cmd(cmd: list[str], timeout: float = 10.0, check_rc: bool = True) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"`{' '.join(cmd)}` did not finish within {timeout}s")
    if check_rc and r.returncode != 0:
        raise TestFailure(f"`{' '.join(cmd)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r


class NetnsPair:
    """Two namespaces A and B and a veth pair between them. Index 0 = A, 1 = B."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000:04d}{random.randrange(16**4):04x}"
        self.ns = [f"pmdns-{tag}-a", f"pmdns-{tag}-b"]
        self.ifname = [f"pma{tag}", f"pmb{tag}"]  # at most 15 bytes
        sub = random.randrange(1, 250)
        self.net = f"10.{random.randrange(64, 128)}.{sub}"
        self.ipv4 = [f"{self.net}.1", f"{self.net}.2"]
        self.ipv6 = ["fe80::a", "fe80::b"]
        self.created: list[str] = []

    def __enter__(self) -> "NetnsPair":
        if shutil.which("ip") is None:
            raise TestSkip("iproute2 (ip) is not installed")
        try:
            self.create()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def create(self) -> None:
        a, b = self.ns
        r = run_cmd(["ip", "netns", "add", a], check_rc=False)
        if r.returncode != 0:
            raise TestSkip(f"cannot create a network namespace (needs root): {r.stderr.strip()}")
        self.created.append(a)
        run_cmd(["ip", "netns", "add", b])
        self.created.append(b)
        ia, ib = self.ifname
        run_cmd(["ip", "-n", a, "link", "add", ia, "type", "veth", "peer", "name", ib, "netns", b])
        for ns, ifn, v4, v6 in ((a, ia, self.ipv4[0], self.ipv6[0]), (b, ib, self.ipv4[1], self.ipv6[1])):
            run_cmd(["ip", "-n", ns, "link", "set", "lo", "up"])
            # No automatic link-local address (and so no DAD delay): we add our own, nodad.
            run_cmd(["ip", "-n", ns, "link", "set", ifn, "addrgenmode", "none"])
            run_cmd(["ip", "-n", ns, "link", "set", ifn, "up"])
            run_cmd(["ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", ifn])
            run_cmd(["ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", ifn, "nodad"])
        log(f"namespaces {a} ({ia} {self.ipv4[0]} {self.ipv6[0]}) <-> {b} ({ib} {self.ipv4[1]} {self.ipv6[1]})")

    def destroy(self) -> None:
        for ns in reversed(self.created):
            r = run_cmd(["ip", "netns", "del", ns], check_rc=False)
            if r.returncode != 0:
                log(f"warning: ip netns del {ns}: {r.stderr.strip()}")
        self.created.clear()

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.ns[i]]

    def run(self, i: int, cmd: list[str], timeout: float = 10.0, check_rc: bool = True) -> subprocess.CompletedProcess:
        return run_cmd(self.exec_prefix(i) + cmd, timeout=timeout, check_rc=check_rc)


class NsPortico(Portico):
    """portico run inside namespace `i` of a NetnsPair (`ip netns exec` execs it: same pid)."""

    def __init__(self, ctx: TestContext, pair: NetnsPair, i: int, config: str, name: str) -> None:
        self.pair = pair
        self.index = i
        super().__init__(ctx, config, name=name)
        ctx._porticos.append(self)  # the harness stops it (SIGTERM, exit 0, sanitizers)

    def command(self) -> list[str]:
        return self.pair.exec_prefix(self.index) + super().command()

    def wait_started(self, backend: str, timeout: float = 10.0) -> None:
        self.wait_log(r"ready workers=", timeout=timeout, what="'ready' line")
        self.wait_log(rf"event_loop={backend}\b", timeout=2, what=f"event_loop={backend}")
        self.wait_log(r"mdns: started ", timeout=2, what="'mdns: started' line")
        log(f"{self.name}: started in {self.pair.ns[self.index]} (pid {self.pid})")

    def wait_added(self, instance: str, timeout: float = 10.0, start: int = 0) -> dict:
        """Waits for `mdns: added ... instance="<instance>"` and returns its fields."""
        m = self.wait_log(r'mdns: added (type=\S+ instance="' + re.escape(instance) + r'" .*)',
                          timeout=timeout, start=start, what=f"'mdns: added' for {instance!r}")
        return parse_fields(m.group(1))

    def wait_removed(self, instance: str, timeout: float, start: int = 0) -> dict:
        m = self.wait_log(r'mdns: removed (type=\S+ instance="' + re.escape(instance) + r'" .*)',
                          timeout=timeout, start=start, what=f"'mdns: removed' for {instance!r}")
        return parse_fields(m.group(1))

    def mdns_lines(self, kind: str) -> list[dict]:
        """All `mdns: <kind> ...` lines so far, as field dicts."""
        return [parse_fields(m.group(1)) for m in re.finditer(rf"mdns: {kind} (.*)", self.stderr_text())]


def parse_fields(text: str) -> dict:
    """`type=_http._tcp instance="A b" port=80` -> {'type': '_http._tcp', 'instance': 'A b', ...}."""
    out = {}
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', text):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[m.group(1)] = v
    return out


def mdns_config(hostname: str, services: str = "[]", browse: str = "[_http._tcp]", extra: str = "",
                interfaces: str = "[]", workers: int = 2, admin: str = "null") -> str:
    """A portico config with only an mdns section (no listeners)."""
    return (f"workers: {workers}\n"
            "event_loop: auto\n"
            "drain_timeout: 5s\n"
            "log: { level: info }\n"
            f"admin: {{ bind: {admin} }}\n"
            "mdns:\n"
            f"  hostname: {hostname}\n"
            f"  interfaces: {interfaces}\n"
            f"  services: {services}\n"
            f"  browse: {browse}\n"
            f"{extra}")


class Helper:
    """A helper program in its own session (so it and its children stop together), output to
    files in the test's temp dir. stop() signals its process group by id and waits."""

    def __init__(self, ctx: TestContext, name: str, cmd: list[str], env: dict | None = None) -> None:
        self.name = name
        self.out_path = os.path.join(ctx.tmpdir, f"{name}.out")
        self.err_path = os.path.join(ctx.tmpdir, f"{name}.err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        e = dict(os.environ)
        e.update(env or {})
        log(f"{name}: start {' '.join(cmd)}")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                     env=e, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def text(self, which: str = "out") -> str:
        """stdout ("out"), stderr ("err") or both ("both")."""
        if which == "both":
            return self.text("out") + self.text("err")
        with open(self.out_path if which == "out" else self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_output(self, pattern: str, timeout: float, what: str = "", which: str = "out") -> re.Match:
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text(which))
            if m:
                return m
            if time.monotonic() > deadline:
                raise TestFailure(f"{self.name}: no {what or repr(pattern)} after {timeout}s\n"
                                  f"--- stdout ---\n{self.text()[-2000:]}\n--- stderr ---\n{self.text('err')[-2000:]}")
            if not self.alive():
                raise TestFailure(f"{self.name} exited with {self.proc.returncode} while waiting for "
                                  f"{what or repr(pattern)}\n--- stderr ---\n{self.text('err')[-2000:]}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
