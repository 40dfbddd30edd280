#!/usr/bin/env python3
"""TLS termination comparison: portico vs nginx vs HAProxy, each answering a fixed
64-byte response itself over TLS 1.3 with an ECDSA P-256 certificate, one worker
pinned to --proxy-core, the load on --load-core:

  full      full handshakes: `openssl s_time -new` (never resumes) + one GET each
  resumed   resumed handshakes: `openssl s_time -reuse` (session tickets) + one GET each
  keepalive keep-alive HTTPS requests: wrk -t1 -c<connections>
  idle      memory: Rss growth of the server (/proc/PID/smaps_rollup) from --idle-low to
            --idle-high idle TLS 1.3 keep-alive connections (each did one GET first),
            per connection

Reports the client-side rate and the work per CPU-second of the server process
(utime+stime from /proc), and ratios to nginx, HAProxy and the better of the two, for
each portico loop backend. Writes bench/results/tls-<date>.md and .json. Run through
`scripts/bench tls`, which owns TMP and kills what is listed in TMP/pids on the way out.
Deviation from the issue's plan: no origin behind the proxies (each answers
itself), so the numbers are TLS + HTTP parsing cost only.
"""
import argparse
import datetime
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tls_report  # noqa: E402
from harness import (Failed, Procs, cpu_seconds, first_error, free_port, listening,  # noqa: E402
                     machine_info, rss_bytes, system_busy_seconds, wait_for_quiet,
                     write_report)

BODY = "portico-bench 64-byte body 0123456789abcdefghijklmnopqrstuvwxyz"


def make_cert(tmp):
    key, cert = os.path.join(tmp, "bench.key"), os.path.join(tmp, "bench.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench.example.test",
                    "-addext", "subjectAltName=DNS:bench.example.test"], check=True, capture_output=True)
    with open(os.path.join(tmp, "bench.both.pem"), "w") as f:  # HAProxy wants both in one file
        f.write(open(cert).read() + open(key).read())
    return cert, key


def portico_conf(port, cert, key):
    return f"""workers: 1
admin: {{ bind: null }}
log: {{ level: warn, access: {{ path: "off" }} }}
listeners:
  - name: tls
    bind: "127.0.0.1:{port}"
    protocol: http
    tls: {{ certificates: [ {{ cert: "{cert}", key: "{key}" }} ], min_version: "1.3" }}
    limits: {{ max_connections: 100000 }}
    routes: [ {{ respond: {{ status: 200, body: "{BODY}\\n" }} }} ]
clusters: []
"""


def nginx_conf(port, cert, key, tmp):
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  ssl_protocols TLSv1.3;
  ssl_session_tickets on;
  ssl_session_cache shared:SSL:10m;
  server {{
    listen 127.0.0.1:{port} ssl backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{ return 200 "{BODY}\\n"; }}
  }}
}}
"""


def haproxy_conf(port, both):
    return f"""global
  nbthread 1
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend tls_in
  bind 127.0.0.1:{port} ssl crt {both}
  http-request return status 200 content-type text/plain string "{BODY}\\n"
"""


def _run(argv, timeout):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        raise Failed(f"{argv[3]} timed out after {timeout}s")


def s_time(args, port, mode, seconds):
    argv = ["taskset", "-c", str(args.load_core), "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
            f"-{mode}", "-time", str(seconds), "-www", "/"]
    out = _run(argv, seconds + 30)
    # "<n> connections in <t> real seconds, <b> bytes read per connection" (wall time; the
    # other line's seconds are the client's user CPU time)
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    if not m:
        raise Failed(f"s_time printed no result: {out.strip()[-200:]}")
    return int(m.group(1)), float(m.group(2))


def wrk(args, port, seconds):
    argv = ["taskset", "-c", str(args.load_core), "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s",
            f"https://127.0.0.1:{port}/"]
    out = _run(argv, seconds + 30)
    m = re.search(r"(\d+) requests in ([\d.]+)s", out)
    if not m or "Non-2xx" in out:
        raise Failed(f"wrk: {out.strip()[-200:]}")
    return int(m.group(1)), float(m.group(2))


def idle_memory(p, port, low, high):
    """Bytes of server Rss per idle TLS keep-alive connection, between low and high open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = high + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    conns = []

    def open_to(n):
        deadline = time.monotonic() + 120
        while len(conns) < n:
            if time.monotonic() > deadline:
                raise Failed(f"idle connections: only {len(conns)} of {n} opened in 120 s")
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                server_hostname="bench.example.test")
            conns.append(s)
            s.sendall(b"GET / HTTP/1.1\r\nHost: bench.example.test\r\n\r\n")
            got = b""
            while BODY.encode() not in got:
                b = s.recv(4096)
                if not b:
                    raise Failed("idle connections: the server closed one")
                got += b

    try:
        open_to(low)
        time.sleep(1)
        r_low = rss_bytes(p.pid)
        open_to(high)
        time.sleep(1)
        r_high = rss_bytes(p.pid)
        return (r_high - r_low) / (high - low)
    finally:
        for s in conns:
            s.close()


def measure(p, fn):
    """One load run against server p: its count and rate, the server's CPU seconds, and
    the CPU the rest of the machine used meanwhile (minus the load client's)."""
    c0, s0 = cpu_seconds(p.pid), system_busy_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    n, secs = fn()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.poll() is not None:
        raise Failed(f"server died during the run (exit {p.returncode})")
    cpu = cpu_seconds(p.pid) - c0
    client = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    other = max(0.0, system_busy_seconds() - s0 - cpu - client)
    return {"n": n, "seconds": secs, "rate": n / secs, "cpu_s": cpu,
            "per_cpu_s": n / cpu if cpu > 0 else None, "client_cpu_s": client,
            "other_pct": 100 * other / secs}


def run_server(args, procs, name, port, argv, log, env=None):
    """Starts argv pinned to the proxy core; returns it once it listens on port."""
    p = procs.start(["taskset", "-c", str(args.proxy_core), *argv], log, env=env)
    deadline = time.monotonic() + 5
    while not listening(port):
        if p.poll() is not None or time.monotonic() > deadline:
            procs.stop(p)
            raise Failed(f"{name} did not start: {first_error(log) or 'not listening after 5 s'}")
        time.sleep(0.05)
    return p


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def launch(spec, args, procs, cert, key):
    """Writes the server's config into TMP, starts it pinned to the proxy core."""
    port, tmp, kind = spec["port"], args.tmp, spec["kind"]
    if kind == "portico":
        if not args.portico or not os.access(args.portico, os.X_OK):
            raise Failed("portico not built")
        conf = portico_conf(port, cert, key)
        argv = ["env", f"PORTICO_EVENT_LOOP={spec['loop']}", args.portico, "-c",
                write(tmp, f"portico-{spec['loop']}.yaml", conf)]
    elif kind == "nginx":
        conf = nginx_conf(port, cert, key, tmp)
        argv = ["nginx", "-c", write(tmp, "nginx.conf", conf), "-p", f"{tmp}/",
                "-e", f"{tmp}/nginx-error.log"]
    else:
        conf = haproxy_conf(port, os.path.join(tmp, "bench.both.pem"))
        argv = ["haproxy", "-f", write(tmp, "haproxy.cfg", conf), "-db"]
    spec["conf"] = conf
    slug = spec["name"].replace(" ", "-")
    return run_server(args, procs, spec["name"], port, argv, os.path.join(tmp, f"{slug}.log"))


def bench_server(spec, args, procs, cert, key):
    """Full, resumed, keep-alive and idle memory against one server; its row."""
    p = launch(spec, args, procs, cert, key)
    try:
        time.sleep(0.3)
        port = spec["port"]
        runs = {"full": measure(p, lambda: s_time(args, port, "new", args.seconds)),
                "resumed": measure(p, lambda: s_time(args, port, "reuse", args.seconds)),
                "ka": measure(p, lambda: wrk(args, port, args.seconds))}
        row = {f"{k}_s": r["rate"] for k, r in runs.items()}
        row.update({f"{k}_per_cpu_s": r["per_cpu_s"] for k, r in runs.items()})
        row.update({f"{k}_cpu_pct": 100 * r["cpu_s"] / r["seconds"] for k, r in runs.items()})
        row["other_pct"] = max(r["other_pct"] for r in runs.values())
        row["bytes_per_conn"] = idle_memory(p, port, args.idle_low, args.idle_high)
        row["runs"] = runs
        return row
    finally:
        procs.stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--portico", default="", help="portico binary ('' = not built)")
    ap.add_argument("--tmp", required=True, help="scratch dir owned by scripts/bench")
    ap.add_argument("--seconds", type=int, default=10, help="seconds of each load run")
    ap.add_argument("--connections", type=int, default=50, help="wrk keep-alive connections")
    ap.add_argument("--proxy-core", type=int, default=0)
    ap.add_argument("--load-core", type=int, default=1)
    ap.add_argument("--idle-low", type=int, default=500)
    ap.add_argument("--idle-high", type=int, default=2500)
    ap.add_argument("--only", default="", help="comma list of name substrings, e.g. nginx")
    ap.add_argument("--wait-quiet", type=float, default=20.0,
                    help="before each server, wait up to this many seconds for the shared "
                         "machine to be quiet (0 = do not wait)")
    ap.add_argument("--out-dir", "--out", dest="out_dir", default="bench/results")
    ap.add_argument("--no-write", action="store_true", help="print only, write no file")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 s per test, 100 -> 600 idle connections, no quiet wait")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.idle_low, args.idle_high, args.wait_quiet = 2, 100, 600, 0
    if not (1 <= args.seconds <= 120 and 1 <= args.connections <= 1024
            and 1 <= args.idle_low < args.idle_high <= 20000):
        ap.error("seconds 1..120, connections 1..1024, 1 <= idle-low < idle-high <= 20000")
    if (os.cpu_count() or 1) < 2:
        args.load_core = args.proxy_core

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)

    procs = Procs(os.path.join(args.tmp, "pids"))
    started = datetime.datetime.now()
    cert, key = make_cert(args.tmp)
    specs = [{"name": f"portico {loop}", "kind": "portico", "loop": loop}
             for loop in ("io_uring", "epoll")]
    specs += [{"name": "nginx", "kind": "nginx"}, {"name": "haproxy", "kind": "haproxy"}]
    if args.only:
        keep = [x.strip() for x in args.only.split(",")]
        specs = [s for s in specs if any(k in s["name"] for k in keep)]
    results = []
    try:
        for spec in specs:
            spec["port"] = free_port()
            row = {"name": spec["name"], "kind": spec["kind"], "info": False}
            print(f"bench tls: {spec['name']}", file=sys.stderr, flush=True)
            try:
                if args.wait_quiet > 0:
                    row["quiet_pct"] = wait_for_quiet(args.wait_quiet)
                row.update(bench_server(spec, args, procs, cert, key))
            except Failed as e:
                row["failed"] = str(e)
                print(f"bench tls: {spec['name']}: {e}", file=sys.stderr)
            row["conf"] = spec.get("conf")
            results.append(row)
    except KeyboardInterrupt:
        print("bench tls: interrupted", file=sys.stderr)
        procs.stop_all()
        return 130
    finally:
        procs.stop_all()

    info = machine_info(args, tools=("nginx", "haproxy", "wrk", "openssl"))
    params = {"seconds": args.seconds, "connections": args.connections,
              "idle_low": args.idle_low, "idle_high": args.idle_high,
              "proxy_core": args.proxy_core, "load_core": args.load_core}
    print(tls_report.text_table(results))
    md = tls_report.markdown(results, info, params, started)
    if not args.no_write:
        write_report("tls", args.out_dir, started, md, info, params, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
