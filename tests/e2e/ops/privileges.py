#!/usr/bin/env python3
"""Privileges and descriptors. As root: with `user: nobody` portico binds its ports
(a privileged one included), then runs as nobody with its groups and no capability
(/proc/PID/status), and still serves; without `user:` it warns. An unknown user
fails the start. With a low RLIMIT_NOFILE, EMFILE makes accept back off (logged,
little CPU used while saturated) and service resumes once descriptors free up."""
import os
import pwd
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import admin, ops_config  # noqa: E402
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, check, connect,  # noqa: E402
                             echo_roundtrip, log, main, run_portico_cmd)


def status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(t: TestContext) -> None:
    echo = t.add(TcpEchoServer())
    relay, ap = t.port(), t.port()
    listeners = f'  - {{ name: relay, bind: "127.0.0.1:{relay}", protocol: tcp, cluster: echo }}\n'
    clusters = f'  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}\n'

    # unknown user: refused at start
    path = os.path.join(t.tmpdir, "bad-user.yaml")
    with open(path, "w") as f:
        f.write(ops_config(ap, listeners, clusters, extra="user: no-such-user-portico\n"))
    r = run_portico_cmd(t, ["-c", path])
    check(r.returncode == 1 and "unknown user 'no-such-user-portico'" in r.stderr,
          f"unknown user: rc={r.returncode} {r.stderr[-300:]}")

    if os.geteuid() == 0:
        low = None
        for cand in range(600, 1000):  # a free privileged port
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", cand))
                low = cand
                break
            except OSError:
                continue
            finally:
                s.close()
        check(low is not None, "no free privileged port")
        nobody = pwd.getpwnam("nobody")
        lst = listeners + f'  - {{ name: low, bind: "127.0.0.1:{low}", protocol: tcp, cluster: echo }}\n'
        p = t.start_portico(ops_config(ap, lst, clusters, extra="user: nobody\n"),
                            [ListenerSpec("127.0.0.1", relay), ListenerSpec("127.0.0.1", low)], name="dropped")
        p.wait_log(r"privileges dropped user=nobody", what="privilege drop log line")
        st = status(p.pid)
        check(st["Uid"] == [str(nobody.pw_uid)] * 4, f"Uid: {st['Uid']}")
        check(st["Gid"] == [str(nobody.pw_gid)] * 4, f"Gid: {st['Gid']}")
        check("0" not in st.get("Groups", []), f"root group kept: {st.get('Groups')}")
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            check(int(st[cap][0], 16) == 0, f"{cap} = {st[cap][0]}")
        check(st["NoNewPrivs"] == ["1"], f"NoNewPrivs: {st['NoNewPrivs']}")
        for task in os.listdir(f"/proc/{p.pid}/task"):  # every thread
            with open(f"/proc/{p.pid}/task/{task}/status") as f:
                uid = [ln.split()[1:] for ln in f if ln.startswith("Uid:")][0]
            check(uid == [str(nobody.pw_uid)] * 4, f"thread {task} Uid {uid}")
        for port in (relay, low):
            c = connect(("127.0.0.1", port))
            echo_roundtrip(c, b"as nobody")
            c.close()
        st_code, _, _ = admin(ap, "/healthz")
        check(st_code == 200, "admin after the drop")
        p.stop()
        # root without user: a warning
        p = t.start_portico(ops_config(ap, listeners, clusters), [ListenerSpec("127.0.0.1", relay)], name="root")
        p.wait_log(r"running as root without `user:`", what="root warning")
        p.stop()
    else:
        log(f"not root (uid {os.geteuid()}): privilege drop not exercised")

    # EMFILE: accept backs off, no spinning, recovers
    wrapper = os.path.join(t.tmpdir, "lowfd.sh")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nulimit -n 64 || exit 3\nexec "$@"\n')
    os.chmod(wrapper, 0o755)
    web = t.port()
    http_listener = f"""  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    routes: [ {{ match: {{ path_prefix: "/" }}, respond: {{ status: 200, body: "ok" }} }} ]
"""
    p = t.start_portico(ops_config(ap, http_listener, workers=1), [ListenerSpec("127.0.0.1", web)],
                        name="lowfd", wrapper=wrapper)
    p.out_of_descriptors = True  # a sanitizer build's vptr check cannot run then: see the harness
    off = p.log_offset()
    held = []
    for _ in range(80):  # idle connections: one descriptor each
        c = socket.socket()
        c.settimeout(2)
        c.connect(("127.0.0.1", web))
        c.sendall(b"G")  # a request begun: with defer_accept a silent client never reaches portico
        held.append(c)
    p.wait_log(r"accept: Too many open files; retrying", start=off, what="EMFILE back-off log line")
    cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
    time.sleep(1.5)
    used = (cpu_seconds(p.pid) - cpu0) / (time.monotonic() - t0)
    check(used < 0.3, f"portico used {used:.2f} CPU seconds per second while out of descriptors (spinning?)")
    backoffs = p.stderr_text()[off:].count("accept: Too many open files")
    check(backoffs < 40, f"{backoffs} back-off lines in ~2s: not backing off")
    for c in held:
        c.close()
    deadline = time.monotonic() + 5
    while True:  # closed clients free descriptors; the backed-off accept resumes
        try:
            c = socket.create_connection(("127.0.0.1", web), timeout=2)
            c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            got = c.recv(100)
            c.close()
            if got.startswith(b"HTTP/1.1 200"):
                break
            raise OSError(f"got {got!r}")
        except OSError as e:
            if time.monotonic() > deadline:
                raise
            log(f"not yet: {e!r}")
            time.sleep(0.2)
    check(p.alive(), "portico alive after EMFILE")


if __name__ == "__main__":
    main(run, __doc__)
