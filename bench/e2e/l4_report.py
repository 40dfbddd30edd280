"""Formats the L4 comparison (bench/e2e/l4.py) as a terminal table and as Markdown."""

COLUMNS = [  # (key, header, format)
    ("mib_s", "stream MiB/s", "{:.0f}"),
    ("gib_per_cpu_s", "GiB/CPU-s", "{:.2f}"),
    ("stream_cpu_pct", "CPU% strm", "{:.0f}"),
    ("conns_s", "conns/s", "{:.0f}"),
    ("conns_per_cpu_s", "conns/CPU-s", "{:.0f}"),
    ("storm_cpu_pct", "CPU% storm", "{:.0f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("errors", "errors", "{:d}"),
    ("other_pct", "other%", "{:.0f}"),
]
RATIO_METRICS = [
    ("mib_s", "stream MiB/s"),
    ("gib_per_cpu_s", "stream GiB per CPU-second"),
    ("conns_s", "connections/s"),
    ("conns_per_cpu_s", "connections per CPU-second"),
]
PEERS = ("haproxy", "nginx")


def _cells(row):
    if "failed" in row:
        return [row["failed"]] + [""] * (len(COLUMNS) - 1)
    return [fmt.format(row[key]) for key, _, fmt in COLUMNS]


def _peer(results, name):
    for r in results:
        if r["name"] == name and "failed" not in r:
            return r
    return None


def ratios(results):
    """[(portico row name, metric label, vs haproxy, vs nginx, vs better peer)]."""
    out = []
    peers = {n: _peer(results, n) for n in PEERS}
    for row in results:
        if row["kind"] != "portico" or "failed" in row:
            continue
        for key, label in RATIO_METRICS:
            vals = {n: (p[key] if p else None) for n, p in peers.items()}
            def ratio(v):
                return f"{row[key] / v:.2f}x" if v else "n/a"
            present = [v for v in vals.values() if v]
            best = max(present) if present else None
            out.append((row["name"], label, ratio(vals["haproxy"]), ratio(vals["nginx"]),
                        ratio(best)))
    return out


def text_table(results):
    headers = ["proxy"] + [h for _, h, _ in COLUMNS]
    rows = []
    for r in results:
        cells = _cells(r)
        name = r["name"] + (" (info)" if r.get("info") else "")
        if "failed" in r:
            rows.append([name, cells[0]])
        else:
            rows.append([name] + cells)
    full = [r for r in rows if len(r) == len(headers)]
    widths = [max([len(h)] + [len(r[i]) for r in full]) for i, h in enumerate(headers)]
    widths[0] = max([widths[0]] + [len(r[0]) for r in rows])
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in
                       enumerate(zip(headers, widths)))]
    for r in rows:
        if len(r) == 2:
            lines.append(r[0].ljust(widths[0]) + "  " + r[1])
        else:
            lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))))
    rat = ratios(results)
    if rat:
        lines.append("")
        lines.append(f"{'portico':18} {'metric':28} {'/haproxy':>9} {'/nginx':>9} {'/best peer':>10}")
        for name, label, h, n, b in rat:
            lines.append(f"{name:18} {label:28} {h:>9} {n:>9} {b:>10}")
    return "\n".join(lines)


def markdown(results, info, params, started):
    gib = params["bytes"] / 1024 ** 3
    md = [f"# L4 (TCP) proxy comparison, {started:%Y-%m-%d %H:%M}", ""]
    md += ["## Machine", "",
           f"- nproc: {info['nproc']} ({info['cpu']})",
           f"- kernel: {info['kernel']}; OS: {info['os']}",
           f"- haproxy: {info['haproxy']}",
           f"- nginx: {info['nginx']}",
           f"- portico: {info['portico']}",
           f"- load average at start: {' '.join(info['loadavg'])} (the machine is shared; "
           "numbers are noisy)", ""]
    md += ["## Method", "",
           f"- Proxy pinned to core {params['proxy_core']} (one worker / one thread); origin "
           f"and load client pinned to core {params['load_core']}.",
           f"- Stream: one connection through the proxy, the origin writes {gib:g} GiB then "
           "closes; MiB/s from connect to EOF at the client.",
           f"- Storm: {params['concurrency']} concurrent connections for "
           f"{params['storm_seconds']:g} s; each connects, reads the origin's 1 byte, waits for "
           "EOF, closes. conns/s = completed connections / elapsed.",
           "- Efficiency: bytes or connections divided by the proxy's CPU time (utime+stime "
           "from /proc/PID/stat, all threads, 10 ms ticks) over the same run.",
           f"- {params['reps']} rounds; each round starts every proxy in turn, runs a 0.5 s "
           "storm warm-up, one stream and one storm, and stops it. Each cell is the median "
           "over the rounds. CPU% = proxy CPU time / wall time (100 = its core saturated).",
           "- Peers run with their defaults except what the configs below say: no logging, "
           "no splicing in the compared rows (HAProxy splices only with `option splice-*`; "
           "nginx stream never does). The `haproxy splice-auto` row is for information only "
           "and is not used in the ratios.",
           "- `other%`: CPU used by everything else on the machine during the runs (other "
           "users, kernel threads), in % of one core, from /proc/stat. High values mean the "
           "row was disturbed; before each round of a proxy the harness waits (bounded) for a quiet "
           "machine.", ""]
    md += ["## Results", "",
           "| proxy | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
           "|---|" + "---:|" * len(COLUMNS)]
    for r in results:
        name = r["name"] + (" (info)" if r.get("info") else "")
        md.append(f"| {name} | " + " | ".join(_cells(r)) + " |")
    md.append("")
    noisy = [r["name"] for r in results if "failed" not in r and r["other_pct"] > 25]
    if noisy:
        md += [f"**Disturbed run**: other work on the shared machine used more than 25% of a "
               f"core during the runs of {', '.join(noisy)} (column other%). Treat these "
               "numbers as indicative and re-run on a quiet machine.", ""]
    load = [r for r in results if "failed" not in r]
    if load:
        md += ["Load side (client + origin) CPU% on its core, to spot a saturated load "
               "generator: " + ", ".join(
                   f"{r['name']}: stream {r['stream_load_pct']:.0f}%, storm "
                   f"{r['storm_load_pct']:.0f}%" for r in load), ""]
    rat = ratios(results)
    md += ["## Ratios (portico / peer; >1 means portico is better)", ""]
    if rat:
        md += ["| portico | metric | / haproxy | / nginx | / better peer |",
               "|---|---|---:|---:|---:|"]
        md += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rat]
    else:
        md.append("No portico row was measured, so there are no ratios.")
    md.append("")
    md += ["## Generated configs", ""]
    for r in results:
        if r.get("conf"):
            md += [f"### {r['name']}", "", "```", r["conf"].rstrip(), "```", ""]
    return "\n".join(md)
