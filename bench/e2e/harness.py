"""Shared pieces of the end-to-end peer comparisons (bench/e2e/l4.py, http_bench.py,
tls_bench.py, dns_bench.py, all.py): process bookkeeping, loopback ports, CPU accounting
from /proc, the quiet-machine wait, machine and tool versions, writing the results.
Used by one harness process (single-threaded); every child goes through Procs."""
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Failed(Exception):
    """A proxy could not be measured; the message goes in its row."""


class Procs:
    """Children started by the harness; mirrored in TMP/pids for scripts/bench's trap."""

    def __init__(self, pid_file):
        self.pid_file = pid_file
        self.live = []

    def _sync(self):
        with open(self.pid_file, "w") as f:
            f.writelines(f"{p.pid}\n" for p in self.live)

    def start(self, argv, log_path, env=None, stdout=None, stdin=None):
        log = open(log_path, "wb")
        p = subprocess.Popen(argv, stdout=stdout or log, stderr=log, env=env,
                             stdin=stdin or subprocess.DEVNULL)
        p.log_path = log_path
        log.close()
        self.live.append(p)
        self._sync()
        return p

    def stop(self, p, grace=3.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.live:
            self.live.remove(p)
            self._sync()

    def stop_all(self):
        for p in list(self.live):
            self.stop(p, grace=1.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when something listens on 127.0.0.1:port (without connecting to it)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want and cols[3] == "0A":
                return True
    return False


def cpu_seconds(pid):
    """utime + stime (fields 14 and 15 of /proc/PID/stat), all threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def system_busy_seconds():
    """CPU time spent by the whole machine (all cores, not idle/iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / CLK_TCK


def wait_for_quiet(max_seconds, threshold_pct=15.0):
    """Waits (bounded) until other work on the machine uses < threshold % of one core.
    Returns the last measured busy % (the machine is shared; the report shows it)."""
    deadline = time.monotonic() + max_seconds
    while True:
        b0, t0 = system_busy_seconds(), time.monotonic()
        time.sleep(0.5)
        busy = 100 * (system_busy_seconds() - b0) / (time.monotonic() - t0)
        if busy < threshold_pct or time.monotonic() >= deadline:
            return busy


def rss_bytes(pid):
    """Rss of the whole process from /proc/PID/smaps_rollup (kB there)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    raise Failed("no Rss in smaps_rollup")


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).strip()
    except OSError:
        return ""


def first_error(path):
    """The most telling line of a failed start: the first alert/error, else the last line."""
    lines = tail(path, 30).splitlines()
    for line in lines:
        if any(w in line.lower() for w in ("alert", "emerg", "error", "fatal")):
            return line.strip()
    return lines[-1].strip() if lines else ""


def run_json(argv, timeout):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failed(f"load client timed out after {timeout:.0f}s")
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise Failed(f"load client printed no result: {out.stderr.strip()[:200]}")


def version_of(argv, match=None):
    """The first line a version command prints (stdout then stderr), or its first line
    containing `match`; "unavailable" when it cannot run."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    lines = [x.strip() for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    if match:
        lines = [x for x in lines if match in x]
    return lines[0] if lines else "unknown"


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (name, argv, line filter) of every tool and peer a comparison uses.
TOOLS = [
    ("nginx", ["nginx", "-v"], None),
    ("haproxy", ["haproxy", "-v"], None),
    ("unbound", ["unbound", "-V"], "ersion"),
    ("dnsmasq", ["dnsmasq", "-v"], None),
    ("wrk", ["wrk", "-v"], None),
    ("dnsperf", ["dnsperf", "-h"], "ersion"),
    ("openssl", ["openssl", "version"], None),
    ("gcc", ["gcc", "--version"], None),
    ("python3", ["python3", "--version"], None),
    ("gnuplot", ["gnuplot", "--version"], None),
]


def git_commit():
    """The commit portico was built from and its subject, noting uncommitted changes."""
    head = version_of(["git", "-C", ROOT, "log", "-1", "--format=%H %s"])
    dirty = version_of(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    return head + (" (+ uncommitted changes)" if dirty not in ("unknown", "unavailable")
                   else "")


def tool_versions(portico):
    """{name: version line} for portico (binary and commit) and every tool in TOOLS."""
    out = {"portico": version_of([portico, "--version"]) if portico else "not built",
           "portico commit": git_commit()}
    for name, argv, match in TOOLS:
        out[name] = version_of(argv, match)
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def memory_mib():
    """{MemTotal, MemAvailable} in MiB from /proc/meminfo."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            if key in ("MemTotal", "MemAvailable"):
                out[key] = int(rest.split()[0]) // 1024
    return out


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_info(args, tools=("haproxy", "nginx")):
    """What a suite report records: cores, CPU, kernel, OS, the versions of `tools`
    (names in TOOLS), the portico commit, the load average now."""
    info = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "os": version_of(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "portico": version_of(["git", "-C", ROOT, "log", "-1", "--format=%h %s"]),
        "loadavg": loadavg(),
    }
    for name, argv, match in TOOLS:
        if name in tools:
            info[name] = version_of(argv, match)
    return info


def write_report(suite, out_dir, started, md, info, params, results):
    """Writes bench/results/<suite>-<date>-<HHMM>.md and the .json of every raw run."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{suite}-{started:%Y-%m-%d-%H%M}.md")
    with open(path, "w") as f:
        f.write(md)
    with open(path[:-3] + ".json", "w") as f:
        json.dump({"info": info, "params": params, "results": results}, f, indent=1)
    print(f"bench {suite}: wrote {path}", file=sys.stderr)
    return path
