#!/usr/bin/env python3
"""Command line: `-t -c FILE` exits 0 on a good config and 1 on a bad one with
`file:line:col: reason` lines (exact position for unknown keys); `-c` with a bad
config refuses to start the same way; --version and --help exit 0."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (TestContext, base_config, check, log, main,  # noqa: E402
                             run_portico_cmd)


def write(t: TestContext, name: str, text: str) -> str:
    path = os.path.join(t.tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def position(text: str, needle: str) -> tuple[int, int]:
    for i, line in enumerate(text.splitlines(), 1):
        j = line.find(needle)
        if j >= 0:
            return i, j + 1
    raise AssertionError(f"test bug: {needle!r} not in config")


def good(port: int) -> str:
    return base_config(
        listeners=f"""
  - name: t
    bind: "127.0.0.1:{port}"
    protocol: tcp
    cluster: c
    timeouts: {{ idle: 2s, connect: 1s }}
    limits: {{ max_connections: 1000 }}
  - {{ name: u, bind: "127.0.0.1:{port + 1}", protocol: udp, cluster: cu, timeouts: {{ idle: 1s }}, limits: {{ udp_sessions: 100 }} }}
""",
        clusters="""
  - name: c
    endpoints: [ { address: "127.0.0.1:9000" }, "[::1]:9001", "unix:/tmp/portico-e2e-x.sock" ]
  - { name: cu, endpoints: [ "127.0.0.1:9002" ] }
""")


def expect_error(t: TestContext, name: str, text: str, needle: str, exact_col: bool,
                 mention: str | None = None, start: bool = False) -> None:
    """Runs -t (or a real start if start) on text; expects exit 1 and a
    `path:line:col: reason` line at needle's position (column only if exact_col)."""
    path = write(t, name, text)
    line, col = position(text, needle)
    args = ["-c", path] if start else ["-t", "-c", path]
    r = run_portico_cmd(t, args, timeout=10)
    what = f"{' '.join(args)} ({name})"
    check(r.returncode == 1, f"{what}: exit {r.returncode}, expected 1; stderr:\n{r.stderr[-1500:]}")
    col_rx = str(col) if exact_col else r"\d+"
    rx = re.compile(rf"(?m){re.escape(path)}:{line}:{col_rx}: (.+)$")
    m = rx.search(r.stderr)
    check(m is not None, f"{what}: expected a line `{path}:{line}:{col if exact_col else 'COL'}: reason` "
                         f"in stderr, got:\n{r.stderr[-1500:]}")
    if mention:
        check(mention in m.group(1), f"{what}: the reason does not mention {mention!r}: {m.group(0)}")
    log(f"{name}: {m.group(0)[:160]}")


def run(t: TestContext) -> None:
    port = t.port()
    g = good(port)
    path = write(t, "good.yaml", g)
    r = run_portico_cmd(t, ["-t", "-c", path])
    check(r.returncode == 0, f"-t on a good config: exit {r.returncode}; stderr:\n{r.stderr[-1500:]}")
    check("error" not in r.stderr.lower(), f"-t on a good config printed errors:\n{r.stderr[-1500:]}")

    # unknown keys: exact position of the key
    top = g.replace("drain_timeout: 5s\n", "drain_timeout: 5s\nno_such_top_key: 1\n")
    expect_error(t, "unknown_top.yaml", top, "no_such_top_key", exact_col=True, mention="no_such_top_key")
    nested = g.replace("    protocol: tcp\n", "    protocol: tcp\n    no_such_listener_key: 1\n")
    expect_error(t, "unknown_nested.yaml", nested, "no_such_listener_key", exact_col=True,
                 mention="no_such_listener_key")
    flow = g.replace("timeouts: { idle: 1s }", "timeouts: { idle: 1s, no_such_timeout: 2s }")
    expect_error(t, "unknown_flow.yaml", flow, "no_such_timeout", exact_col=True, mention="no_such_timeout")
    # bad values and references: the right line
    expect_error(t, "bad_duration.yaml", g.replace("drain_timeout: 5s", "drain_timeout: 5 parsecs"),
                 "5 parsecs", exact_col=False)
    expect_error(t, "bad_address.yaml", g.replace('"[::1]:9001"', '"[::1]:99999"'), "[::1]:99999",
                 exact_col=False)
    expect_error(t, "bad_protocol.yaml", g.replace("protocol: tcp", "protocol: sctp"), "sctp",
                 exact_col=False)
    expect_error(t, "unknown_cluster.yaml", g.replace("    cluster: c\n", "    cluster: nowhere\n"),
                 "nowhere", exact_col=False, mention="nowhere")
    # YAML syntax error
    expect_error(t, "syntax.yaml", g.replace("    protocol: tcp\n", "    protocol: tcp: oops\n"), "tcp: oops",
                 exact_col=False)
    # a real start refuses a bad config the same way (and exits, not serving)
    expect_error(t, "start_unknown.yaml", top, "no_such_top_key", exact_col=True, start=True)

    missing = os.path.join(t.tmpdir, "does-not-exist.yaml")
    r = run_portico_cmd(t, ["-t", "-c", missing])
    check(r.returncode == 1, f"-t on a missing file: exit {r.returncode}, expected 1")
    check(missing in r.stderr, f"-t on a missing file: the path is not in stderr:\n{r.stderr[-800:]}")

    r = run_portico_cmd(t, ["--version"])
    check(r.returncode == 0, f"--version: exit {r.returncode}")
    check(re.search(r"portico\D*\d+\.\d+", r.stdout + r.stderr),
          f"--version printed no 'portico X.Y': {r.stdout!r} {r.stderr!r}")
    r = run_portico_cmd(t, ["--help"])
    check(r.returncode == 0, f"--help: exit {r.returncode}")
    out = r.stdout + r.stderr
    check("-c" in out and "-t" in out, f"--help does not mention -c and -t:\n{out[:1000]}")
    r = run_portico_cmd(t, ["--no-such-option"])
    check(r.returncode != 0, "an unknown option exits 0")
    check(r.stderr.strip() != "", "an unknown option prints nothing on stderr")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
