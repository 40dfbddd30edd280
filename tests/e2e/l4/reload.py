#!/usr/bin/env python3
"""SIGHUP reload: a good config switches the cluster's upstream for new
connections while an established connection survives and keeps echoing; a bad
config (invalid YAML, unknown key) is refused with `reload failed` and
file:line:col, and the last good config keeps serving. SIGINT then exits 0."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, base_config, check, connect,  # noqa: E402
                             echo_roundtrip, log, main)


def config(port: int, endpoint: str, extra_listener_key: str = "") -> str:
    return base_config(
        listeners=f"""
  - name: t
    bind: "127.0.0.1:{port}"
    protocol: tcp
    cluster: c
    timeouts: {{ idle: 30s }}
{extra_listener_key}""",
        clusters=f'  - {{ name: c, endpoints: [ "{endpoint}" ] }}')


def line_col(text: str, needle: str) -> tuple[int, int]:
    for i, line in enumerate(text.splitlines(), 1):
        j = line.find(needle)
        if j >= 0:
            return i, j + 1
    raise AssertionError(f"test bug: {needle!r} not in config")


def new_conn_goes_to(port: int, server: TcpEchoServer, others: list, what: str) -> None:
    before = [s.accepted for s in others]
    n = server.accepted
    with connect(("127.0.0.1", port)) as c:
        echo_roundtrip(c, f"{what}\n".encode())
    check(server.accepted == n + 1, f"{what}: the new connection did not reach {server.name}")
    check([s.accepted for s in others] == before, f"{what}: the new connection reached another upstream")


def run(t: TestContext) -> None:
    a = t.add(TcpEchoServer("ipv4", name="A"))
    b = t.add(TcpEchoServer("ipv6", name="B"))
    port = t.port()
    p = t.start_portico(config(port, a.endpoint), [ListenerSpec("127.0.0.1", port)])
    cfg_name = re.escape(os.path.basename(p.config_path))

    new_conn_goes_to(port, a, [b], "before reload")
    old = connect(("127.0.0.1", port))
    try:
        echo_roundtrip(old, b"established before the reload\n")
        # the first (closed) connection's upstream side closes asynchronously
        a.wait_for(lambda sv: sv.active == 1, 3, "exactly the established connection open on A")

        # 1. good reload: new connections go to B, the old one keeps echoing via A
        status, report = p.reload(config(port, b.endpoint))
        check(status == "ok", f"good config: expected 'reload ok', got:\n{report[:800]}")
        log("reload ok: cluster c now points to B")
        new_conn_goes_to(port, b, [a], "after reload")
        before_a = a.bytes_in
        echo_roundtrip(old, b"established connection survives the reload\n")
        echo_roundtrip(old, os.urandom(200_000))
        check(a.bytes_in > before_a, "the established connection no longer goes to A")

        # 2. invalid YAML: refused with file:line:col, still serving B
        bad_yaml = config(port, b.endpoint) + "listeners: [ { name: x\n"
        status, report = p.reload(bad_yaml)
        check(status == "failed", f"invalid YAML: expected 'reload failed', got:\n{report[:800]}")
        check(re.search(cfg_name + r":\d+:\d+", report),
              f"invalid YAML: no file:line:col in the reload report:\n{report[:800]}")
        log(f"invalid YAML refused: {report.strip()[:300]}")
        new_conn_goes_to(port, b, [a], "after a failed reload (invalid YAML)")

        # 3. unknown key: refused with the exact file:line:col of the key
        bad_key = config(port, a.endpoint, extra_listener_key="    no_such_key: 1\n")
        line, col = line_col(bad_key, "no_such_key")
        status, report = p.reload(bad_key)
        check(status == "failed", f"unknown key: expected 'reload failed', got:\n{report[:800]}")
        check(re.search(cfg_name + rf":{line}:{col}\b", report),
              f"unknown key: expected {os.path.basename(p.config_path)}:{line}:{col} in:\n{report[:800]}")
        check("no_such_key" in report, f"unknown key: the report does not name the key:\n{report[:800]}")
        log(f"unknown key refused at {line}:{col}")
        new_conn_goes_to(port, b, [a], "after a failed reload (unknown key)")
        echo_roundtrip(old, b"and survives failed reloads\n")

        # 4. the file fixed again: reload ok, back to A
        status, report = p.reload(config(port, a.endpoint))
        check(status == "ok", f"fixed config: expected 'reload ok', got:\n{report[:800]}")
        new_conn_goes_to(port, a, [b], "after reloading back to A")
        echo_roundtrip(old, b"the first connection still echoes\n")
    finally:
        old.close()
    a.wait_for(lambda sv: sv.active == 0, 3, "all connections to A closed")
    check(p.alive(), "portico died")
    # SIGINT drains and exits 0 like SIGTERM
    p.stop(sig=signal.SIGINT, timeout=10)


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
