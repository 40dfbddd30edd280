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
(utime+stime from /proc), and ratios to nginx. Run through `scripts/bench tls`,
which owns TMP and kills what is listed in TMP/pids on the way out.
Deviation from the issue's plan: no origin behind the proxies (each answers
itself), so the numbers are TLS + HTTP parsing cost only.
"""
import argparse
import datetime
import os
import re
import resource
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failed, Procs, cpu_seconds, first_error, free_port, listening, wait_for_quiet  # noqa: E402

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


def s_time(args, port, mode, seconds):
    argv = ["taskset", "-c", str(args.load_core), "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
            f"-{mode}", "-time", str(seconds), "-www", "/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    # "<n> connections in <t> real seconds, <b> bytes read per connection" (wall time; the
    # other line's seconds are the client's user CPU time)
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    if not m:
        raise Failed(f"s_time printed no result: {out.strip()[-200:]}")
    return int(m.group(1)), float(m.group(2))


def wrk(args, port, seconds):
    argv = ["taskset", "-c", str(args.load_core), "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s",
            f"https://127.0.0.1:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)s", out)
    if not m or "Non-2xx" in out:
        raise Failed(f"wrk: {out.strip()[-200:]}")
    return int(m.group(1)), float(m.group(2))


def rss_bytes(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    raise Failed("no Rss in smaps_rollup")


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
    c0 = cpu_seconds(p.pid)
    n, secs = fn()
    cpu = cpu_seconds(p.pid) - c0
    return {"n": n, "rate": n / secs, "cpu": cpu, "per_cpu_s": n / cpu if cpu > 0 else None}


def run_server(args, procs, name, port, argv, log):
    p = procs.start(["taskset", "-c", str(args.proxy_core), *argv], log)
    for _ in range(100):
        if listening(port):
            break
        if p.poll() is not None:
            raise Failed(f"{name} did not start: {first_error(log)}")
        time.sleep(0.05)
    else:
        raise Failed(f"{name} is not listening: {first_error(log)}")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--portico", default="")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--proxy-core", type=int, default=0)
    ap.add_argument("--load-core", type=int, default=1)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--idle-low", type=int, default=500)
    ap.add_argument("--idle-high", type=int, default=2500)
    args = ap.parse_args()
    procs = Procs(os.path.join(args.tmp, "pids"))
    cert, key = make_cert(args.tmp)
    rows = {}
    servers = [("portico", lambda port: (["env", "PORTICO_EVENT_LOOP=io_uring", args.portico, "-c", write(
                   args.tmp, "portico.yaml", portico_conf(port, cert, key))])),
               ("nginx", lambda port: (["nginx", "-c", write(args.tmp, "nginx.conf", nginx_conf(port, cert, key, args.tmp))])),
               ("haproxy", lambda port: (["haproxy", "-f", write(args.tmp, "haproxy.cfg", haproxy_conf(
                   port, os.path.join(args.tmp, "bench.both.pem")))]))]
    busy = []
    try:
        for name, argv_of in servers:
            if name == "portico" and not args.portico:
                rows[name] = "portico not built"
                continue
            port = free_port()
            try:
                busy.append(wait_for_quiet(20))
                p = run_server(args, procs, name, port, argv_of(port), os.path.join(args.tmp, f"{name}.log"))
                time.sleep(0.3)
                r = {}
                r["full"] = measure(p, lambda: s_time(args, port, "new", args.seconds))
                r["resumed"] = measure(p, lambda: s_time(args, port, "reuse", args.seconds))
                r["keepalive"] = measure(p, lambda: wrk(args, port, args.seconds))
                r["idle"] = idle_memory(p, port, args.idle_low, args.idle_high)
                rows[name] = r
                procs.stop(p)
            except Failed as e:
                rows[name] = str(e)
            print(f"{name}: {rows[name]}", file=sys.stderr)
    finally:
        procs.stop_all()
    md = report(rows, args, busy)
    print(md)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"tls-{datetime.date.today().isoformat()}.md")
    with open(path, "w") as f:
        f.write(md)
    print(f"written to {path}", file=sys.stderr)


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def report(rows, args, busy):
    out = [f"# TLS termination, {datetime.datetime.now().isoformat(timespec='minutes')}", "",
           f"TLS 1.3, ECDSA P-256, one worker on core {args.proxy_core}, load on core {args.load_core}, "
           f"{args.seconds}s per test; full/resumed: openssl s_time (-new / -reuse, one GET each); "
           f"keep-alive: wrk -t1 -c{args.connections}. Other load on the machine before each server: "
           + ", ".join(f"{b:.0f}%" for b in busy) + ".", "",
           "| server | full /s | full per CPU-s | resumed /s | resumed per CPU-s | keep-alive req/s | keep-alive per CPU-s "
           f"| B/idle TLS conn ({args.idle_low}->{args.idle_high}) |",
           "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        if isinstance(r, str):
            out.append(f"| {name} | {r} | | | | | | |")
            continue
        cells = []
        for k in ("full", "resumed", "keepalive"):
            cells += [f"{r[k]['rate']:.0f}", f"{r[k]['per_cpu_s']:.0f}" if r[k]["per_cpu_s"] else "-"]
        cells.append(f"{r['idle']:.0f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    n, pt = rows.get("nginx"), rows.get("portico")
    if isinstance(n, dict) and isinstance(pt, dict):
        out += ["", "portico / nginx, work per CPU-second: " + ", ".join(
            f"{k} {pt[k]['per_cpu_s'] / n[k]['per_cpu_s']:.2f}x" for k in ("full", "resumed", "keepalive")
            if pt[k]["per_cpu_s"] and n[k]["per_cpu_s"])]
        if pt["idle"] > 0:
            out.append(f"idle TLS connection memory, nginx / portico: {n['idle'] / pt['idle']:.2f}x")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
