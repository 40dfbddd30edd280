#!/usr/bin/env python3
"""Floors: how far can any server go on this machine? Sets portico and nginx (and
HAProxy for HTTP) beside a minimal program that does only the unavoidable work, in
the same run, with the same load, cores and configs as the http and tls suites:

  http       keep-alive requests per CPU-second through a proxy to the http suite's
             origin (wrk -t1 -c64). Floor: bench_floor_relay, a byte relay with one
             upstream connection per client connection and no HTTP processing at all.
  tls_full   full TLS 1.3 handshakes + one GET each (openssl s_time -new). Floor:
  tls_resumed  resumed ones (s_time -reuse).  bench_floor_tls serial: blocking accept,
             SSL_accept, one response, close; Debian's BoringSSL, as portico.
  tls_ka     keep-alive HTTPS requests (wrk -t1 -c50). Floor: bench_floor_tls keepalive.
  l4_storm   new TCP connections through the proxy, as in the l4 suite's storm (64 in
             flight, the origin sends 1 byte and closes). Floor: bench_floor_relay, which
             connects upstream blocking and closes both sides at the first EOF instead
             of passing a half-close on (less than a proxy may do).

The floor is a ceiling for every ratio the issues ask of portico: a proxy that must
parse, route and rewrite cannot use less CPU per request than a relay that does none
of it. Reports medians (min-max) of the server's work per CPU-second, the ratio of
each row to nginx (to the better of nginx and HAProxy for http), and portico as a
share of the floor. Run through `scripts/bench floor`.
"""
import argparse
import datetime
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench  # noqa: E402
import l4  # noqa: E402
import tls_bench  # noqa: E402
from harness import (Failed, Procs, free_port, listening,  # noqa: E402
                     machine_info, run_json, tail, wait_for_quiet, write_report)

TESTS = {  # name: (what, unit, target ratio to the reference, what the target is)
    "http": ("HTTP keep-alive through the proxy", "requests", 1.4, "#3: 1.4x the better of nginx/haproxy"),
    "tls_full": ("full TLS 1.3 handshakes", "handshakes", 2.0, "#4: 2x nginx"),
    "tls_resumed": ("resumed TLS 1.3 handshakes", "handshakes", 2.0, "#4: 2x nginx"),
    "tls_ka": ("keep-alive HTTPS requests", "requests", 1.4, "#4: 1.4x nginx"),
    "l4_storm": ("new TCP connections through the proxy", "connections", 1.2,
                 "#2: 1.2x the better of haproxy/nginx"),
}
REFERENCES = {"http": ["nginx", "haproxy"], "l4_storm": ["haproxy", "nginx"]}  # else nginx


def rows_for(test):
    rows = [("floor", "floor"), ("portico io_uring", "portico"), ("portico epoll", "portico"),
            ("nginx", "nginx")]
    if test in REFERENCES:
        rows.append(("haproxy", "haproxy"))
    return rows


def write(args, name, text):
    path = os.path.join(args.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def server_argv(args, test, name, kind, port, ctx):
    """argv and env of one row's server for one test."""
    env = dict(os.environ)
    slug = f"{test}-{name.replace(' ', '-')}"
    if test == "l4_storm":
        o = ctx["storm_origin_port"]
        if kind == "floor":
            return [ctx["relay"], str(port), str(o)], env
        # the l4 suite's configs; their stream listener is bound but never used here
        ports = {"storm": port, "stream": free_port(), "origin_storm": o,
                 "origin_stream": ctx["storm_origin_port"]}
        if kind == "portico":
            env["PORTICO_EVENT_LOOP"] = name.split()[1]
            return [args.portico, "-c", write(args, slug + ".yaml", l4.portico_conf(ports))], env
        if kind == "nginx":
            return ["nginx", "-c", write(args, slug + ".conf", l4.nginx_conf(ports, args.tmp)),
                    "-p", f"{args.tmp}/", "-e", f"{args.tmp}/nginx-error.log"], env
        return ["haproxy", "-f", write(args, slug + ".cfg", l4.haproxy_conf(ports, False)), "-db"], env
    if test == "http":
        o = ctx["origin_port"]
        if kind == "floor":
            return [ctx["relay"], str(port), str(o)], env
        if kind == "portico":
            env["PORTICO_EVENT_LOOP"] = name.split()[1]
            conf = http_bench.portico_conf(port, o, args)
            return [args.portico, "-c", write(args, slug + ".yaml", conf)], env
        if kind == "nginx":
            conf = http_bench.nginx_conf(port, o, args.tmp, args)
            return ["nginx", "-c", write(args, slug + ".conf", conf), "-p", f"{args.tmp}/",
                    "-e", f"{args.tmp}/nginx-error.log"], env
        conf = http_bench.haproxy_conf(port, o, args)
        return ["haproxy", "-f", write(args, slug + ".cfg", conf), "-db"], env
    cert, key = ctx["cert"], ctx["key"]
    if kind == "floor":
        mode = "keepalive" if test == "tls_ka" else "serial"
        return [ctx["floor_tls"], mode, str(port), cert, key], env
    if kind == "portico":
        env["PORTICO_EVENT_LOOP"] = name.split()[1]
        conf = tls_bench.portico_conf(port, cert, key)
        return [args.portico, "-c", write(args, slug + ".yaml", conf)], env
    conf = tls_bench.nginx_conf(port, cert, key, args.tmp)
    return ["nginx", "-c", write(args, slug + ".conf", conf), "-p", f"{args.tmp}/",
            "-e", f"{args.tmp}/nginx-error.log"], env


def load(args, test, port):
    """The load of one test; returns (count, wall seconds)."""
    if test == "tls_full":
        return tls_bench.s_time(args, port, "new", args.seconds)
    if test == "tls_resumed":
        return tls_bench.s_time(args, port, "reuse", args.seconds)
    if test == "tls_ka":
        return tls_bench.wrk(args, port, args.seconds)
    if test == "l4_storm":
        res = run_json(["taskset", "-c", str(args.load_core), args.storm_client, "storm",
                        "--target", f"127.0.0.1:{port}", "--concurrency", "64", "--timeout", "10",
                        "--duration", str(args.seconds)], args.seconds + 30)
        if not res.get("ok") or res.get("errors"):
            raise Failed(f"storm failed: {res}")
        return res["connections"], res["seconds"]
    argv = ["taskset", "-c", str(args.load_core), "wrk", "--latency", "-t1", f"-c{args.connections}",
            f"-d{args.seconds}s", f"http://127.0.0.1:{port}/"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 30).stdout
    except subprocess.TimeoutExpired:
        raise Failed("wrk timed out")
    w = http_bench.parse_wrk(out)
    if w["non_2xx"] or w["socket_errors"] or not w["requests"]:
        raise Failed(f"wrk: {out.strip()[-200:]}")
    return w["requests"], w["seconds"]


def one_run(args, procs, test, name, kind, ctx):
    if kind == "portico" and (not args.portico or not os.access(args.portico, os.X_OK)):
        raise Failed("portico not built")
    port = free_port()
    argv, env = server_argv(args, test, name, kind, port, ctx)
    p = tls_bench.run_server(args, procs, f"{test} {name}", port, argv,
                             f"{args.tmp}/{test}-{name.replace(' ', '-')}.log", env)
    try:
        time.sleep(0.3)
        if test in ("http", "tls_ka", "l4_storm"):  # warm up: connections, pools, caches
            load(argparse.Namespace(**{**vars(args), "seconds": args.warmup_seconds}), test, port)
        return tls_bench.measure(p, lambda: load(args, test, port))
    finally:
        procs.stop(p)


def start_storm_origin(args, procs, ctx):
    """The l4 suite's storm origin (1 byte, then close), for the l4_storm test only;
    it exits by itself after the test's time budget."""
    ctx["storm_origin_port"] = port = free_port()
    budget = 60 + args.reps * len(rows_for("l4_storm")) * (args.seconds + args.warmup_seconds + 15)
    origin = procs.start(["taskset", "-c", str(args.load_core),
                          os.path.join(args.build_dir, "bench", "bench_l4_origin"), "--mode", "one",
                          "--port", str(port), "--bytes", "1", "--max-seconds", str(budget)],
                         f"{args.tmp}/origin-storm.log")
    deadline = time.monotonic() + 5
    while not listening(port):
        if time.monotonic() > deadline or origin.poll() is not None:
            raise Failed("the storm origin did not start: " + tail(origin.log_path))
        time.sleep(0.05)
    return origin


def summarize(test, runs):
    """runs: {row name: [measure dict]} -> table rows with medians and ratios."""
    ref_names = REFERENCES.get(test, ["nginx"])
    med = {n: statistics.median(r["per_cpu_s"] for r in rs) for n, rs in runs.items() if rs}
    refs = {n: med[n] for n in ref_names if n in med}
    ref_name = max(refs, key=refs.get) if refs else None
    out = []
    for n, rs in runs.items():
        if not rs:
            continue
        vals = [r["per_cpu_s"] for r in rs]
        row = {"name": n, "per_cpu_s": med[n], "min": min(vals), "max": max(vals),
               "rate": statistics.median(r["rate"] for r in rs),
               "cpu_pct": statistics.median(100 * r["cpu_s"] / r["seconds"] for r in rs),
               "other_pct": max(r["other_pct"] for r in rs), "runs": rs}
        if ref_name:
            row["vs_ref"] = med[n] / refs[ref_name]
        if "floor" in med and n.startswith("portico"):
            row["of_floor"] = med[n] / med["floor"]
        out.append(row)
    return {"test": test, "reference": ref_name, "rows": out}


def markdown(results, info, params, started):
    lines = [f"# Floors: portico and its peers beside a minimal server, {started:%Y-%m-%d %H:%M}", "",
             "Work per CPU-second of the server process (utime+stime from /proc), median of "
             f"{params['reps']} interleaved rounds of {params['seconds']} s (min-max beside it); "
             "the server pinned to core {proxy_core}, the load (and the http origin) to core "
             "{load_core}. The floor does only the unavoidable work (see bench/README.md), so "
             "the floor's ratio is the best any server could reach here. \"other load\" is the rest "
             "of the machine, the http origin included.".format(**params), ""]
    lines += [f"Machine: {info.get('cpu')}, {info.get('nproc')} cores, kernel {info.get('kernel')}; "
              f"portico {info.get('portico')}.", ""]
    for res in results:
        what, unit, target, target_text = TESTS[res["test"]]
        lines += [f"## {res['test']}: {what}", "",
                  f"Target {target_text}; reference: {res['reference'] or 'none measured'}.", "",
                  f"| server | {unit} per CPU-second (min-max) | ratio to {res['reference']} | "
                  "share of the floor | server CPU % | other load % |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in res["rows"]:
            ratio = f"{r['vs_ref']:.2f}x" if "vs_ref" in r else ""
            share = f"{100 * r['of_floor']:.0f}%" if "of_floor" in r else ""
            lines.append(f"| {r['name']} | {r['per_cpu_s']:.0f} ({r['min']:.0f}-{r['max']:.0f}) | "
                         f"{ratio} | {share} | {r['cpu_pct']:.0f} | {r['other_pct']:.0f} |")
        for name, why in res.get("failed", {}).items():
            lines.append(f"| {name} | failed: {why} | | | | |")
        floor = next((r for r in res["rows"] if r["name"] == "floor"), None)
        if floor and "vs_ref" in floor:
            reach = round(floor["vs_ref"], 2)
            verdict = ("below it: no server can reach the target here" if reach < target else
                       "so only a server that costs no more than the floor reaches the target" if reach == target else
                       "above it: the target is within reach")
            lines += ["", f"The floor reaches {reach:.2f}x the reference against a {target}x target, {verdict}."]
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--portico", default="", help="portico binary ('' = not built)")
    ap.add_argument("--tmp", required=True, help="scratch dir owned by scripts/bench")
    ap.add_argument("--seconds", type=int, default=5, help="seconds of each measured load run")
    ap.add_argument("--warmup-seconds", type=int, default=1, help="keep-alive warm-up before measuring")
    ap.add_argument("--reps", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--tests", default=",".join(TESTS), help="comma list of " + ", ".join(TESTS))
    ap.add_argument("--proxy-core", type=int, default=0)
    ap.add_argument("--load-core", type=int, default=1)
    ap.add_argument("--wait-quiet", type=float, default=10.0,
                    help="before each round, wait up to this many seconds for a quiet machine")
    ap.add_argument("--out-dir", default="bench/results")
    ap.add_argument("--no-write", action="store_true", help="print only, write no file")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s, no quiet wait")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds, args.wait_quiet = 1, 2, 0
    tests = [t.strip() for t in args.tests.split(",") if t.strip()]
    if any(t not in TESTS for t in tests) or not (1 <= args.reps <= 20 and 1 <= args.seconds <= 60
                                                  and 1 <= args.warmup_seconds <= 30):
        ap.error(f"tests from {', '.join(TESTS)}; reps 1..20, seconds 1..60, warmup-seconds 1..30")
    if (os.cpu_count() or 1) < 2:
        args.load_core = args.proxy_core
    # what the http and tls suites' config builders and load functions read
    args.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    args.idle_high = 1000

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)

    ctx = {"relay": os.path.join(args.build_dir, "bench", "bench_floor_relay"),
           "floor_tls": os.path.join(args.build_dir, "bench", "bench_floor_tls")}
    args.storm_client = os.path.join(args.build_dir, "bench", "bench_l4_client")
    procs = Procs(os.path.join(args.tmp, "pids"))
    started = datetime.datetime.now()
    results = []
    try:
        ctx["cert"], ctx["key"] = tls_bench.make_cert(args.tmp)
        if "http" in tests:
            ctx["origin_port"] = free_port()
            conf = write(args, "origin-nginx.conf", http_bench.origin_conf(ctx["origin_port"], args.tmp, args.nofile))
            origin = procs.start(["taskset", "-c", str(args.load_core), "nginx", "-c", conf, "-p",
                                  f"{args.tmp}/", "-e", f"{args.tmp}/origin-nginx-error.log"],
                                 f"{args.tmp}/origin.log")
            deadline = time.monotonic() + 5
            while not listening(ctx["origin_port"]):
                if time.monotonic() > deadline or origin.poll() is not None:
                    sys.exit("bench floor: the origin did not start: " + tail(origin.log_path))
                time.sleep(0.05)
        for test in tests:
            # wrk connections as in the http (64) and tls (50) suites; the http configs
            # size their upstream pools from it too
            args.connections = 64 if test == "http" else 50
            runs = {name: [] for name, _ in rows_for(test)}
            failed = {}
            try:
                storm_origin = start_storm_origin(args, procs, ctx) if test == "l4_storm" else None
            except Failed as e:
                results.append({"test": test, "reference": None, "rows": [], "failed": {"origin": str(e)}})
                continue
            for rnd in range(args.reps):
                for name, kind in rows_for(test):
                    if name in failed:
                        continue
                    if args.wait_quiet > 0:
                        wait_for_quiet(args.wait_quiet)
                    print(f"bench floor: {test} round {rnd + 1}/{args.reps}: {name}", file=sys.stderr, flush=True)
                    try:
                        runs[name].append(one_run(args, procs, test, name, kind, ctx))
                    except Failed as e:
                        failed[name] = str(e)
                        runs[name] = []  # a row is measured in every round or not at all
                        print(f"bench floor: {test} {name}: {e}", file=sys.stderr)
            if storm_origin:
                procs.stop(storm_origin)
            res = summarize(test, runs)
            res["failed"] = failed
            results.append(res)
    except KeyboardInterrupt:
        print("bench floor: interrupted", file=sys.stderr)
        procs.stop_all()
        return 130
    finally:
        procs.stop_all()

    info = machine_info(args, tools=("nginx", "haproxy", "wrk", "openssl"))
    params = {"seconds": args.seconds, "reps": args.reps, "tests": tests,
              "proxy_core": args.proxy_core, "load_core": args.load_core}
    md = markdown(results, info, params, started)
    print(md)
    if not args.no_write:
        write_report("floor", args.out_dir, started, md, info, params, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
