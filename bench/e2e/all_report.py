#!/usr/bin/env python3
"""The report of `scripts/bench all`: reads a run directory (run.json written by all.py
plus each suite's <suite>-<date>.json) and writes report.md with one table per suite
(ratios of portico to the peers, the issues' targets marked met / not met) and one PNG
chart per suite drawn by gnuplot. Nothing is measured here, so it can be re-run on a
recorded directory:  python3 bench/e2e/all_report.py DIR [--latest bench/results/latest.md]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_common as rc  # noqa: E402


class Target:
    """One goal from the issues. kind "ratio": portico's figure must be `need` times the
    reference (the better of `peers`; for lower-is-better figures peer / portico);
    kind "limit": portico's figure must be <= `need`."""

    def __init__(self, key, label, unit, need, peers=(), higher=True, kind="ratio"):
        self.key, self.label, self.unit, self.need = key, label, unit, need
        self.peers, self.higher, self.kind = tuple(peers), higher, kind

    def text(self):
        if self.kind == "limit":
            return f"<= {self.need:g} {self.unit}".rstrip()
        what = "the better of " + "/".join(self.peers) if len(self.peers) > 1 else self.peers[0]
        if self.higher:
            return f">= {self.need:g}x {what}"
        return f"no worse than {what}" if self.need == 1 else f"{self.need:g}x lower than {what}"


def info_metric(key, label, unit, peers, higher=True):
    """A ratio shown for information (raw rates): no target, vs the best peer."""
    t = Target(key, label, unit, None, peers, higher)
    t.kind = "info"
    return t


L4_PEERS = ("haproxy", "nginx", "haproxy splice-auto")

# Per suite: title, peers (chart order), targets and informational ratios (table order),
# chart panels (efficiency key, its title, raw-rate key, its title).
SUITES = {
    "l4": {
        "title": "L4 (TCP) proxying",
        "peers": L4_PEERS,
        "rows": [
            # Portico splices by default, so for the stream HAProxy with splice-auto
            # counts as a peer; the storm never splices.
            Target("gib_per_cpu_s", "stream GiB per CPU-second", "", 1.2, L4_PEERS),
            Target("conns_per_cpu_s", "connections per CPU-second", "", 1.2, ("haproxy", "nginx")),
            info_metric("mib_s", "stream MiB/s", "", L4_PEERS),
            info_metric("conns_s", "connections/s", "", ("haproxy", "nginx")),
        ],
        "charts": [("gib_per_cpu_s", "stream: GiB per CPU-second", "mib_s", "stream: MiB/s"),
                   ("conns_per_cpu_s", "storm: connections per CPU-second", "conns_s",
                    "storm: connections/s")],
    },
    "http": {
        "title": "HTTP/1.1 reverse proxying",
        "peers": ("nginx", "haproxy"),
        "rows": [
            Target("req_per_cpu_s", "requests per CPU-second", "", 1.4, ("nginx", "haproxy")),
            Target("p99_ms", "p99 latency", "ms", 1.0, ("nginx", "haproxy"), higher=False),
            Target("bytes_per_conn", "bytes per idle connection", "B", 400, kind="limit",
                   peers=("nginx", "haproxy"), higher=False),
            info_metric("req_s", "requests/s", "", ("nginx", "haproxy")),
        ],
        "charts": [("req_per_cpu_s", "keep-alive: requests per CPU-second", "req_s",
                    "keep-alive: requests/s")],
    },
    "tls": {
        "title": "TLS termination",
        "peers": ("nginx", "haproxy"),
        "rows": [
            Target("full_per_cpu_s", "full handshakes per CPU-second", "", 2.0, ("nginx",)),
            Target("resumed_per_cpu_s", "resumed handshakes per CPU-second", "", 2.0,
                   ("nginx",)),
            Target("ka_per_cpu_s", "keep-alive requests per CPU-second", "", 1.4, ("nginx",)),
            Target("bytes_per_conn", "bytes per idle TLS connection", "B", 8192, kind="limit",
                   peers=("nginx", "haproxy"), higher=False),
            info_metric("full_s", "full handshakes/s", "", ("nginx", "haproxy")),
            info_metric("resumed_s", "resumed handshakes/s", "", ("nginx", "haproxy")),
            info_metric("ka_s", "keep-alive requests/s", "", ("nginx", "haproxy")),
        ],
        "charts": [("full_per_cpu_s", "full handshakes per CPU-second", "full_s",
                    "full handshakes/s"),
                   ("resumed_per_cpu_s", "resumed handshakes per CPU-second", "resumed_s",
                    "resumed handshakes/s"),
                   ("ka_per_cpu_s", "keep-alive requests per CPU-second", "ka_s",
                    "keep-alive requests/s")],
    },
    "dns": {
        "title": "DNS caching forwarder (cache hits)",
        "peers": ("unbound", "dnsmasq"),
        "rows": [
            Target("q_per_cpu_s", "queries per CPU-second", "", 2.0, ("unbound",)),
            info_metric("q_per_cpu_s", "queries per CPU-second, vs the better peer", "",
                        ("unbound", "dnsmasq")),
            info_metric("qps", "queries/s", "", ("unbound", "dnsmasq")),
        ],
        "charts": [("q_per_cpu_s", "queries per CPU-second", "qps", "queries/s")],
    },
}
BACKENDS = ("portico io_uring", "portico epoll")
MET, NOT_MET, NA = "met", "not met", "n/a"
COLORS = {"portico io_uring": 0x1F4E9C, "portico epoll": 0x6FA8DC}
PEER_COLORS = (0xE69138, 0x8C8C8C, 0x93C47D, 0xC27BA0)


# ---------------------------------------------------------------- targets

def num(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def reference(target, results):
    """(peer name, value) the target compares with: the better of its peers; or None."""
    found = [(n, rc.find_row(results, n)) for n in target.peers]
    vals = [(n, r.get(target.key)) for n, r in found if r and r.get(target.key)]
    if not vals:
        return None
    pick = max if target.higher else min
    return pick(vals, key=lambda nv: nv[1])


def evaluate(target, results):
    """{backend: (value, ratio to the reference, status)} for each portico backend.
    status is MET / NOT_MET, NA when portico or the reference was not measured, or
    None for an informational metric."""
    ref = reference(target, results)
    out = {}
    for name in BACKENDS:
        row = rc.find_row(results, name)
        mine = row.get(target.key) if row else None
        r = rc.ratio(mine, ref[1], target.higher) if ref else None
        if target.kind == "info":
            status = None
        elif mine is None:
            status = NA
        elif target.kind == "limit":
            status = MET if mine <= target.need else NOT_MET
        elif r is None:
            status = NA
        else:
            status = MET if r >= target.need * (1 - 1e-9) else NOT_MET
        out[name] = (mine, r, status)
    return out


def suite_rows(suite, results):
    """[(target, reference, evaluate())] in table order."""
    return [(t, reference(t, results), evaluate(t, results)) for t in SUITES[suite]["rows"]]


def tally(rows):
    """{backend: (met, counted)} over the targets of one suite."""
    out = {}
    for b in BACKENDS:
        statuses = [ev[b][2] for t, _, ev in rows if t.kind != "info"]
        out[b] = (statuses.count(MET), len(statuses))
    return out


def md_suite_table(rows):
    md = ["| metric | reference | " + " | ".join(BACKENDS) + " | target | "
          + " | ".join(b.split()[-1] for b in BACKENDS) + " |",
          "|---|---|" + "---:|" * len(BACKENDS) + "---|" + "---|" * len(BACKENDS)]
    for t, ref, ev in rows:
        unit = f" {t.unit}" if t.unit else ""
        ref_cell = f"{ref[0]} {num(ref[1])}{unit}" if ref else "no peer measured"
        cells = []
        for b in BACKENDS:
            v, r, _ = ev[b]
            cells.append("-" if v is None else
                         f"{num(v)}{unit}" + (f" ({rc.fmt_ratio(r)})" if r is not None else ""))
        status = ["" if ev[b][2] is None else
                  ("**met**" if ev[b][2] == MET else ev[b][2]) for b in BACKENDS]
        target = t.text() if t.kind != "info" else "(information)"
        md.append(f"| {t.label} | {ref_cell} | " + " | ".join(cells) + f" | {target} | "
                  + " | ".join(status) + " |")
    md += ["", "Ratios in parentheses: portico / reference, or reference / portico for "
           "lower-is-better figures (p99, bytes), so > 1 means portico is better.", ""]
    return md


# ---------------------------------------------------------------- charts

def chart_rows(suite, results):
    """The rows a chart shows: each portico backend, then each peer (no info rows)."""
    rows = [r for r in results if r["name"] in BACKENDS]
    rows += [r for p in SUITES[suite]["peers"] for r in results
             if r["name"] == p and not r.get("info")]
    return rows


def _gp_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def chart_script(suite, results, terminal, output, note=""):
    """gnuplot script and data for the suite's chart: one row of panels per workload,
    efficiency (with the target line) on the left, raw rate on the right."""
    rows = chart_rows(suite, results)
    panels = SUITES[suite]["charts"]
    colors, peer_i = {}, 0
    for r in rows:
        if r["name"] in COLORS:
            colors[r["name"]] = COLORS[r["name"]]
        else:
            colors[r["name"]] = PEER_COLORS[peer_i % len(PEER_COLORS)]
            peer_i += 1
    keys = [k for eff, _, rate, _ in panels for k in (eff, rate)]
    data = []
    for r in rows:
        cols = [r["name"], str(colors[r["name"]])]
        for k in keys:
            v = None if "failed" in r else r.get(k)
            cols += ["NaN" if v is None else repr(float(v)), "0" if v is None else repr(float(v)),
                     "failed" if "failed" in r else num(v)]
        data.append("\t".join(cols))
    targets = {t.key: t for t in SUITES[suite]["rows"] if t.kind == "ratio" and t.higher}
    title = f"{SUITES[suite]['title']}: portico vs peers (higher is better){note}"
    gp = [f"set terminal {terminal} size 1100,{60 + 330 * len(panels)} font 'sans,10'",
          f"set output {_gp_str(output)}",
          "set termoption noenhanced",
          "set datafile separator '\\t'",
          f"set multiplot layout {len(panels)},2 title {_gp_str(title)} font 'sans,12'",
          "set style fill solid 0.9 border -1", "set boxwidth 0.65", "set grid ytics",
          "unset key", "set xtics scale 0", "set xrange [-0.6:" + f"{len(rows) - 0.4}]"]
    for i, k in enumerate(keys):
        col = 3 + 3 * i  # value, label y, label text
        values = [float(line.split("\t")[col - 1]) for line in data
                  if line.split("\t")[col - 1] != "NaN"]
        t = targets.get(k)
        ref = reference(t, results) if t else None
        tline = t.need * ref[1] if ref else None
        top = max(values + ([tline] if tline else []) + [0]) * 1.18 or 1
        gp.append(f"set title {_gp_str(panels[i // 2][1 + 2 * (i % 2)])}")
        gp.append(f"set yrange [0:{top!r}]")
        gp.append("set format y '%.0f'" if top >= 20 else "set format y '%.2f'")
        if tline:
            gp.append(f"set arrow 1 from graph 0, first {tline!r} to graph 1, first {tline!r} "
                      "nohead dt 2 lw 2 lc rgb '#cc0000' front")
            label = f"target: {t.need:g}x {ref[0]}"
            gp.append(f"set label 1 {_gp_str(label)} at graph 0.99, first {tline!r} right "
                      "offset 0,0.7 tc rgb '#cc0000' front")
        gp.append(f"plot 'data' using 0:{col}:2:xtic(1) with boxes lc rgb variable, "
                  f"'' using 0:{col + 1}:{col + 2} with labels offset 0,0.7")
        gp += ["unset arrow 1", "unset label 1"]
    gp.append("unset multiplot")
    return "\n".join(gp) + "\n", "\n".join(data) + "\n"


def draw_chart(suite, results, out_dir, note=""):
    """Writes out_dir/<suite>.png (note: added to its title); returns None, or why not."""
    rows = chart_rows(suite, results)
    if not rows:
        return "no row to draw"
    err = ""
    for terminal in ("pngcairo", "png"):
        # The script and its data stay in charts/<suite>/ (gnuplot chart.gp there redraws).
        script, data = chart_script(suite, results, terminal, f"../../{suite}.png", note)
        work = os.path.join(out_dir, "charts", suite)
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "data"), "w") as f:
            f.write(data)
        with open(os.path.join(work, "chart.gp"), "w") as f:
            f.write(script)
        try:
            r = subprocess.run(["gnuplot", "chart.gp"], cwd=work, capture_output=True,
                               text=True, timeout=60)
        except FileNotFoundError:
            return "gnuplot not found (scripts/setup bench installs gnuplot-nox)"
        except subprocess.TimeoutExpired:
            return "gnuplot timed out"
        png = os.path.join(out_dir, suite + ".png")
        if r.returncode == 0 and os.path.exists(png) and os.path.getsize(png) > 0:
            return None
        err = (r.stderr.strip().splitlines() or ["exit status %d" % r.returncode])[-1]
    return f"gnuplot failed: {err}"


# ---------------------------------------------------------------- report

def load(run_dir):
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    data = {}
    for rec in run["suites"]:
        if rec.get("json"):
            try:
                with open(os.path.join(run_dir, rec["json"])) as f:
                    data[rec["suite"]] = json.load(f)
            except (OSError, ValueError) as e:
                rec.setdefault("failed", f"cannot read {rec['json']}: {e}")
    return run, data


def la(v):
    return " ".join(v) if v else "-"


def markdown(run, data, charts, prefix=""):
    """The report; prefix is prepended to every link (latest.md lives one level up)."""
    started = run["started"].replace("T", " ")
    md = [f"# Portico vs peers, every suite: {started}", ""]
    if run.get("quick"):
        md += ["**Quick smoke run** (`scripts/bench all --quick`): short runs, one round, "
               "no quiet-machine wait. The figures check that every suite works end to end; "
               "they are not measurements.", ""]
    if run.get("interrupted"):
        md += ["**Interrupted**: the run was stopped before every suite finished.", ""]
    recs = {r["suite"]: r for r in run["suites"]}
    requested = run.get("suites_requested") or list(recs)
    md += ["## Summary", "",
           "| suite | result | targets met, " + " | targets met, ".join(BACKENDS)
           + " | time | load avg before -> after | suite report |",
           "|---|---|" + "---:|" * len(BACKENDS) + "---:|---|---|"]
    failed = []
    for s in requested:
        rec = recs.get(s)
        if rec is None:
            md.append(f"| {s} | not run |" + " |" * (len(BACKENDS) + 3))
            failed.append(s)
            continue
        if "failed" in rec:
            failed.append(s)
        res = data.get(s, {}).get("results")
        counts = tally(suite_rows(s, res)) if res is not None else {}
        tallies = [f"{counts[b][0]}/{counts[b][1]}" if b in counts else "-" for b in BACKENDS]
        result = f"**failed**: {rec['failed']}" if "failed" in rec else "ok"
        link = f"[{rec['md']}]({prefix}{rec['md']})" if rec.get("md") and res is not None else "-"
        md.append(f"| [{s}](#{s}) | {result} | " + " | ".join(tallies)
                  + f" | {rec.get('seconds', 0):.0f} s | {la(rec.get('loadavg_before'))} -> "
                  f"{la(rec.get('loadavg_after'))} | {link} |")
    md.append("")
    if failed:
        md += [f"Failed or not run: {', '.join(failed)} (see each section and `logs/`).", ""]
    else:
        md += ["Every suite ran.", ""]
    m = run["machine"]
    mem = m.get("memory_mib", {})
    md += ["## Machine", "",
           f"- CPU: {m['cpu']}, {m['nproc']} cores (online)",
           f"- memory: {mem.get('MemTotal', '?')} MiB, {mem.get('MemAvailable', '?')} MiB "
           "available at start",
           f"- kernel: {m['kernel']}; OS: {m['os']}",
           f"- load average (1, 5, 15 min): {la(m.get('loadavg_start'))} at start, "
           f"{la(m.get('loadavg_end'))} at the end; before and after each suite in the "
           "summary. The machine may be shared: other load shows in each suite's `other%` "
           "column.", ""]
    md += ["## Versions", "", "| tool | version |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in run["versions"].items()]
    md.append("")
    for s in requested:
        md += suite_section(s, recs.get(s), data.get(s), charts.get(s), prefix)
    md += ["## Appendix: generated configs", "",
           "Each suite's harness writes its configs into its scratch directory; they are "
           "copied here as they ran (each suite report also quotes them).", ""]
    for s in requested:
        files = sorted(run_files(run, s))
        md.append(f"- {s}: " + (", ".join(f"[{f}]({prefix}configs/{s}/{f})" for f in files)
                                if files else "none recorded"))
    md.append("")
    return "\n".join(md)


def run_files(run, suite):
    return run.get("configs", {}).get(suite, [])


def suite_section(s, rec, data, chart_err, prefix):
    title = SUITES[s]["title"]
    md = [f'<a id="{s}"></a>', f"## {s}: {title}", ""]
    if rec is None:
        return md + ["Not run.", ""]
    if "failed" in rec:
        md += [f"**Failed**: {rec['failed']} (log: [{rec['log']}]({prefix}{rec['log']})).", ""]
        if rec.get("log_tail"):
            md += ["```", rec["log_tail"], "```", ""]
    if not data:
        return md
    results = data["results"]
    if chart_err:
        md += [f"Chart not drawn: {chart_err}.", ""]
    else:
        md += [f"![{s} chart]({prefix}{s}.png)", ""]
    broken = [f"{r['name']} ({r['failed']})" for r in results if "failed" in r]
    if broken:
        md += ["Rows that could not be measured: " + "; ".join(broken) + ".", ""]
    md += md_suite_table(suite_rows(s, results))
    if rec.get("md"):
        md += [f"Every column, the method and the configs: [{rec['md']}]({prefix}{rec['md']}).",
               ""]
    return md


def summary_text(run_dir):
    """A few lines for the terminal: each suite's result and its targets met."""
    run, data = load(run_dir)
    lines = []
    for rec in run["suites"]:
        s = rec["suite"]
        res = data.get(s, {}).get("results")
        counts = tally(suite_rows(s, res)) if res is not None else {}
        t = ", ".join(f"{b}: {counts[b][0]}/{counts[b][1]} targets met" for b in counts)
        lines.append(f"  {s:5} {'FAILED: ' + rec['failed'] if 'failed' in rec else 'ok'}"
                     + (f"; {t}" if t else ""))
    return "\n".join(lines)


def write(run_dir, latest=None):
    """Draws the charts, writes run_dir/report.md (and `latest` with links into run_dir);
    returns the report's path."""
    run, data = load(run_dir)
    note = " - QUICK SMOKE RUN, not a measurement" if run.get("quick") else ""
    charts = {s: draw_chart(s, d["results"], run_dir, note) for s, d in data.items()}
    run["configs"] = {s: sorted(os.listdir(os.path.join(run_dir, "configs", s)))
                      for s in run.get("suites_requested", [])
                      if os.path.isdir(os.path.join(run_dir, "configs", s))}
    path = os.path.join(run_dir, "report.md")
    with open(path, "w") as f:
        f.write(markdown(run, data, charts))
    if latest:
        rel = os.path.relpath(run_dir, os.path.dirname(os.path.abspath(latest)) or ".")
        with open(latest, "w") as f:
            f.write(f"<!-- written by scripts/bench all; the run: {rel}/ -->\n")
            f.write(markdown(run, data, charts, prefix=rel + "/"))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", help="a bench/results/all-<date> directory")
    ap.add_argument("--latest", default=None, help="also write this file (links into run_dir)")
    args = ap.parse_args()
    print(write(args.run_dir, args.latest))
    print(summary_text(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
