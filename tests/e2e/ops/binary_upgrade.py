#!/usr/bin/env python3
"""Binary upgrade (SIGUSR2) under load. First an upgrade whose new process
cannot start (the config on disk is invalid): the old process keeps serving and
logs the new process's reason. Then, during a bounded wrk run (2 threads, 16
keep-alive connections) through an http listener: SIGUSR2 starts a new process
that takes over every listening socket (http, tcp, admin); the old one stops
accepting, closes its keep-alive connections cleanly (Connection: close, or
EOF once idle), keeps relaying an L4 TCP connection opened before the upgrade
until the client closes it, then exits 0 within drain_timeout. A new TCP
connection is served by the new process (its socket is in the new pid's fd
table), the admin endpoint answers from the new process
(portico_start_time_seconds changes), and systemd's NOTIFY_SOCKET hears
READY=1 at start and MAINPID=<new pid> after each upgrade. A second upgrade lowers the workers
from 2 to 1: the surplus inherited SO_REUSEPORT socket is served too. wrk must
report no socket error and no non-2xx response."""
import ctypes
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_common import WrkLoad, admin, metric, ops_config, scrape  # noqa: E402
from portico_harness import (ListenerSpec, TcpEchoServer, TestContext, TestFailure, TestSkip, check,  # noqa: E402
                             connect, echo_roundtrip, log, main, proc_socket_inodes, wait_closed)
from http_origin import HttpClient, HttpOrigin  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
DRAIN_S = 5


def become_subreaper() -> None:
    """The new portico is the old one's child; once the old one exits it is
    re-parented to us, so we can collect its exit status."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise TestSkip(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


def wait_pid_exit(pid: int, timeout: float, what: str) -> int:
    """Exit status of our (adopted) child pid, waiting at most timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            raise TestFailure(f"{what} (pid {pid}) is not our child: cannot get its exit status")
        if done == pid:
            check(os.WIFEXITED(status), f"{what} (pid {pid}) died by signal {os.WTERMSIG(status)}")
            return os.WEXITSTATUS(status)
        if time.monotonic() > deadline:
            raise TestFailure(f"{what} (pid {pid}) still running after {timeout}s")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def server_side_inode(listen_port: int, client_port: int) -> int:
    """Inode of the accepted socket (local port listen_port, peer client_port)."""
    for fname in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(fname) as f:
            next(f)
            for line in f:
                parts = line.split()
                lp = int(parts[1].rsplit(":", 1)[1], 16)
                rp = int(parts[2].rsplit(":", 1)[1], 16)
                if lp == listen_port and rp == client_port and parts[3] == "01":
                    return int(parts[9])
    raise TestFailure(f"no established socket {listen_port} <- {client_port} in /proc/net/tcp")


def listening_inodes(port: int) -> set[int]:
    out = set()
    for fname in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(fname) as f:
            next(f)
            for line in f:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                    out.add(int(parts[9]))
    return out


def wait_released(pid: int, port: int, timeout: float) -> None:
    """Waits until pid holds none of the listening sockets of port (it stopped accepting)."""
    deadline = time.monotonic() + timeout
    while listening_inodes(port) & proc_socket_inodes(pid):
        if time.monotonic() > deadline:
            raise TestFailure(f"pid {pid} still holds the listening sockets of port {port} after {timeout}s")
        time.sleep(0.02)
    check(len(listening_inodes(port)) >= 1, f"port {port} is not listening any more")


def served_by(pid: int, listen_port: int, sock) -> bool:
    return server_side_inode(listen_port, sock.getsockname()[1]) in proc_socket_inodes(pid)


def notified(sock: socket.socket, want: str) -> None:
    sock.settimeout(5)
    try:
        got = sock.recv(4096).decode()
    except socket.timeout:
        raise TestFailure(f"nothing on NOTIFY_SOCKET within 5s (expected {want!r})")
    check(got == want, f"NOTIFY_SOCKET got {got!r}, expected {want!r}")


def wait_log(p, pattern: str, timeout: float, start: int, what: str) -> re.Match:
    """Like Portico.wait_log, but the process that writes may not be the one p started."""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, p.stderr_text()[start:])
        if m:
            return m
        if time.monotonic() > deadline:
            raise TestFailure(f"no {what} in portico's stderr after {timeout}s\n{p.stderr_tail()}")
        time.sleep(0.05)


def upgrade(p, pid: int, backend: str, workers: int) -> int:
    """SIGUSR2 to pid; returns the new process's pid once it said it is ready."""
    off = p.log_offset()
    os.kill(pid, signal.SIGUSR2)
    m = wait_log(p, r"upgrade: new process pid=(\d+) is ready; pid=" + str(pid), 15, off, "upgrade ready line")
    new = int(m.group(1))
    wait_log(p, rf"ready workers={workers} event_loop={backend} pid={new}\b", 5, off, "the new process's ready line")
    log(f"upgrade: pid {pid} -> {new}")
    return new


def run(t: TestContext) -> None:
    become_subreaper()
    origin = t.add(HttpOrigin(name="origin"))
    echo = t.add(TcpEchoServer())
    web, tcp, ap = t.port(), t.port(), t.port()
    load = WrkLoad(f"http://127.0.0.1:{web}/load/x", duration=7)  # skips now if wrk is missing

    def config(workers: int, extra: str = "") -> str:
        return ops_config(ap, f"""  - name: web
    bind: "127.0.0.1:{web}"
    protocol: http
    routes: [ {{ name: main, match: {{ path_prefix: "/" }}, cluster: origin }} ]
  - {{ name: echo, bind: "127.0.0.1:{tcp}", protocol: tcp, cluster: echo, timeouts: {{ idle: 60s }} }}
""", f"""  - {{ name: origin, endpoints: [ "{origin.endpoint}" ] }}
  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
""", workers=workers, extra=extra)

    notify_path = os.path.join(t.tmpdir, "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    p = t.start_portico(config(2), [ListenerSpec("127.0.0.1", web), ListenerSpec("127.0.0.1", tcp),
                                    ListenerSpec("127.0.0.1", ap)], env={"NOTIFY_SOCKET": notify_path})
    old = p.pid
    notified(notify, "READY=1")
    adopted: list[int] = []
    try:
        start_old = metric(scrape(ap), "portico_start_time_seconds")

        # 1. A new process that cannot start: the old one keeps serving and says why.
        p.write_config(config(2, extra="bogus_key: 1\n"))
        off = p.log_offset()
        os.kill(old, signal.SIGUSR2)
        m = p.wait_log(r"upgrade failed: new process pid=(\d+): (.*); pid=" + str(old) + " keeps serving",
                       timeout=15, start=off, what="upgrade failed line")
        failed_pid, reason = int(m.group(1)), m.group(2)
        log(f"failed upgrade: pid {failed_pid}: {reason}")
        check(re.search(r"portico\.yaml:\d+:\d+: .*bogus_key", reason) is not None,
              f"the reason names the file, line and key: {reason!r}")
        deadline = time.monotonic() + 5
        while alive(failed_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not alive(failed_pid), f"the failed new process {failed_pid} is still there")
        notify.settimeout(0.2)
        try:
            got = notify.recv(4096)
            raise TestFailure(f"the failed new process notified systemd: {got!r}")
        except socket.timeout:
            pass
        check(p.alive(), "the old process still runs after a failed upgrade")
        with HttpClient(("127.0.0.1", web)) as c:
            r = c.request("GET", "/after-failed-upgrade")
            check(r.status == 200, f"served after the failed upgrade: {r.status}")
        st, _, _ = admin(ap, "/ready")
        check(st == 200, f"/ready after the failed upgrade: {st}")
        p.write_config(config(2))

        # 2. Connections open before the upgrade: an L4 relay and an idle HTTP keep-alive one.
        l1 = connect(("127.0.0.1", tcp), timeout=10)
        echo_roundtrip(l1, b"before the upgrade\n")
        check(served_by(old, tcp, l1), "the first tcp connection is the old process's")
        k1 = HttpClient(("127.0.0.1", web))
        check(k1.request("GET", "/keepalive").status == 200, "keep-alive request before the upgrade")

        load.start()
        time.sleep(1.5)

        # 3. The upgrade under load.
        t0 = time.monotonic()
        new = upgrade(p, old, t.backend, 2)
        notified(notify, f"MAINPID={new}\nREADY=1")
        check(alive(new) and new != old, "the new process runs")
        # The old one closes the idle keep-alive connection cleanly (EOF, not a reset).
        kind, secs = wait_closed(k1.sock, 4.0, what="idle keep-alive connection on the old process")
        check(kind == "eof", f"the old process closed an idle keep-alive connection with a {kind}")
        log(f"idle keep-alive connection closed ({kind}) {secs:.2f}s after the hand-over")
        k1.close()
        # The relayed connection still works through the old process; a new one goes to the new process.
        echo_roundtrip(l1, b"during the drain\n")
        wait_released(old, tcp, 5.0)
        l2 = connect(("127.0.0.1", tcp), timeout=10)
        echo_roundtrip(l2, b"after the upgrade\n")
        check(served_by(new, tcp, l2), "a tcp connection opened after the upgrade is the new process's")
        check(alive(old), "the old process waits for its relayed connection")
        l1.close()
        rc = p.wait_exit(DRAIN_S)
        check(rc == 0, f"the old process exited with {rc}")
        took = time.monotonic() - t0
        check(took < DRAIN_S, f"the old process took {took:.1f}s (drain_timeout {DRAIN_S}s)")
        log(f"old process exited 0, {took:.2f}s after SIGUSR2")
        adopted.append(new)
        s = scrape(ap)
        start_new = metric(s, "portico_start_time_seconds")
        check(start_new > start_old, f"portico_start_time_seconds {start_new} after the upgrade, {start_old} before")
        st, _, _ = admin(ap, "/ready")
        check(st == 200, f"/ready from the new process: {st}")

        # 4. Second upgrade, 2 workers -> 1: the new process gets two sockets per listener.
        p.write_config(config(1))
        l2.close()
        off = p.log_offset()
        newer = upgrade(p, new, t.backend, 1)
        notified(notify, f"MAINPID={newer}\nREADY=1")
        wait_log(p, r"listener web \(127\.0\.0\.1:\d+\): 1 inherited sockets more than workers, served as well",
                 2, off, "the surplus inherited socket kept")
        rc = wait_pid_exit(new, DRAIN_S, "the second process")
        check(rc == 0, f"the second process exited with {rc}")
        adopted.append(newer)

        load.finish("across the upgrades")

        # The third process serves everything, the admin endpoint included.
        with HttpClient(("127.0.0.1", web)) as c:
            check(c.request("GET", "/last").status == 200, "http after the second upgrade")
        l3 = connect(("127.0.0.1", tcp), timeout=10)
        echo_roundtrip(l3, b"third process\n")
        check(served_by(newer, tcp, l3), "the third process serves tcp")
        l3.close()
        s = scrape(ap)
        check(metric(s, "portico_start_time_seconds") >= start_new, "start time of the third process")
        check(metric(s, "portico_workers") == 1, "the third process runs one worker")
        os.kill(newer, signal.SIGTERM)
        rc = wait_pid_exit(newer, 10, "the third process")
        check(rc == 0, f"the third process exited with {rc} after SIGTERM")
        check("drain timeout" not in p.stderr_text(), "some drain ran into drain_timeout")
    finally:
        notify.close()
        for pid in adopted + [old]:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in adopted:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0], deadline=90.0)
