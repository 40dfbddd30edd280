#!/usr/bin/env python3
"""Runs every peer comparison (l4, http, tls, dns) in one go and writes one report.

Run through `scripts/bench all`, which installs the peers, builds once, raises
RLIMIT_NOFILE and owns TMP. Each suite is its own harness process (bench/e2e/<suite>
script) with its own scratch dir TMP/<suite>, writing its usual <suite>-<date>.md and
.json into the run directory bench/results/all-<date>-<HHMM>[-quick]/. A suite that
fails (exit status, time limit, no JSON) is recorded and the next one runs. Around each
suite the load average is read; the configs each suite generated are copied into
configs/<suite>/. Then all_report.py reads run.json and the suites' JSON and writes
report.md and one PNG chart per suite. A full (not --quick) run also rewrites
bench/results/latest.md.
"""
import argparse
import datetime
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import all_report  # noqa: E402
from harness import loadavg, machine_info, memory_mib, tail, tool_versions, version_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = {  # name: (harness script, time limit in seconds for a full run / a quick one)
    "l4": ("l4.py", 1800, 300),
    "http": ("http_bench.py", 2400, 600),
    "tls": ("tls_bench.py", 1200, 300),
    "dns": ("dns_bench.py", 1200, 300),
}
# What a suite generated in its scratch dir that the report keeps (no keys, no logs).
CONFIG_GLOBS = ("*.yaml", "*.cfg", "*.conf", "*.argv")


class Interrupted(Exception):
    pass


def machine():
    m = machine_info(None, tools=())
    return {"cpu": m["cpu"], "nproc": m["nproc"], "kernel": version_of(["uname", "-srvm"]),
            "os": m["os"], "memory_mib": memory_mib(), "loadavg_start": m["loadavg"]}


def kill_listed(pid_file):
    """Kills what a harness left running (it lists its children in TMP/<suite>/pids)."""
    try:
        with open(pid_file) as f:
            pids = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)  # the harness stops what it started, then exits
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_suite(name, args, run_dir):
    """Runs one suite's harness; returns its record for run.json ("interrupted" set
    when a signal stopped it)."""
    script, limit_full, limit_quick = SUITES[name]
    limit = limit_quick if args.quick else limit_full
    tmp = os.path.join(args.tmp, name)
    os.makedirs(tmp, exist_ok=True)
    os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
    log_rel = f"logs/{name}.log"
    rec = {"suite": name, "loadavg_before": loadavg(), "log": log_rel,
           "started": datetime.datetime.now().isoformat(timespec="seconds")}
    argv = [sys.executable, os.path.join(HERE, script), "--build-dir", args.build_dir,
            "--portico", args.portico, "--tmp", tmp, "--out-dir", run_dir]
    if args.quick:
        argv.append("--quick")
    t0 = time.monotonic()
    with open(os.path.join(run_dir, log_rel), "wb") as log:
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    try:
        p.wait(limit)
    except subprocess.TimeoutExpired:
        rec["failed"] = f"did not finish within its {limit} s limit"
    except Interrupted:
        rec["failed"] = rec["interrupted"] = "interrupted"
    finally:
        stop(p)
        kill_listed(os.path.join(tmp, "pids"))
        copy_configs(tmp, os.path.join(run_dir, "configs", name))
    rec["rc"] = p.returncode
    rec["seconds"] = round(time.monotonic() - t0, 1)
    rec["loadavg_after"] = loadavg()
    found = sorted(glob.glob(os.path.join(run_dir, f"{name}-*.json")))
    if found:
        rec["json"] = os.path.basename(found[-1])
        rec["md"] = rec["json"][:-5] + ".md"
    if "failed" not in rec:
        if p.returncode != 0:
            rec["failed"] = f"exit status {p.returncode}"
        elif not found:
            rec["failed"] = "wrote no results"
    if "failed" in rec:
        rec["log_tail"] = tail(os.path.join(run_dir, log_rel), 8)
    return rec


def copy_configs(src, dst):
    files = sorted(f for g in CONFIG_GLOBS for f in glob.glob(os.path.join(src, g)))
    if not files:
        return
    os.makedirs(dst, exist_ok=True)
    for f in files:
        shutil.copy(f, dst)


def save(run_dir, run):
    with open(os.path.join(run_dir, "run.json"), "w") as f:
        json.dump(run, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--portico", default="", help="portico binary ('' = not built)")
    ap.add_argument("--tmp", required=True, help="scratch dir owned by scripts/bench")
    ap.add_argument("--out-dir", default="bench/results")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: every suite with its own --quick (a few minutes in all); "
                         "does not update latest.md")
    ap.add_argument("--suites", default=",".join(SUITES),
                    help="comma list of suites to run, in order (default: all)")
    args = ap.parse_args()
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    bad = [s for s in suites if s not in SUITES]
    if bad or not suites:
        ap.error(f"unknown suite(s) {', '.join(bad)}; known: {', '.join(SUITES)}")

    def on_signal(sig, _frame):
        raise Interrupted(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = datetime.datetime.now()
    name = f"all-{started:%Y-%m-%d-%H%M}" + ("-quick" if args.quick else "")
    run_dir = os.path.join(args.out_dir, name)
    if os.path.exists(run_dir):  # a second run within the minute
        run_dir += f"-{started:%S}"
    os.makedirs(run_dir, exist_ok=True)
    run = {"started": started.isoformat(timespec="seconds"), "quick": args.quick,
           "suites_requested": suites, "machine": machine(),
           "versions": tool_versions(args.portico), "suites": []}
    save(run_dir, run)
    rc = 0
    try:
        for suite in suites:
            print(f"bench all: {suite} ...", file=sys.stderr, flush=True)
            rec = run_suite(suite, args, run_dir)
            run["suites"].append(rec)
            save(run_dir, run)
            print(f"bench all: {suite}: " + (f"FAILED ({rec['failed']})" if "failed" in rec
                                            else f"done in {rec['seconds']:.0f} s"),
                  file=sys.stderr, flush=True)
            if rec.get("interrupted"):
                raise Interrupted()
    except Interrupted:
        run["interrupted"] = True
        rc = 130
        print("bench all: interrupted", file=sys.stderr)
    run["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    run["machine"]["loadavg_end"] = loadavg()
    save(run_dir, run)
    latest = None if args.quick or rc else os.path.join(args.out_dir, "latest.md")
    report = all_report.write(run_dir, latest)
    print(all_report.summary_text(run_dir), file=sys.stderr)
    print(f"bench all: wrote {report}" + (f" and {latest}" if latest else ""), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
