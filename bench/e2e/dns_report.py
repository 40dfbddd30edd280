"""Formats the DNS comparison (bench/e2e/dns_bench.py) as a terminal table and as Markdown."""

COLUMNS = [  # (key, header, format)
    ("qps", "q/s", "{:.0f}"),
    ("latency_us", "mean lat us", "{:.0f}"),
    ("q_per_cpu_s", "q/CPU-s", "{:.0f}"),
    ("cpu_pct", "CPU%", "{:.0f}"),
    ("q_per_wakeup", "q/wakeup", "{:.1f}"),
    ("load_pct", "dnsperf CPU%", "{:.0f}"),
    ("lost", "lost", "{:.0f}"),
    ("other_pct", "other%", "{:.0f}"),
]
RATIO_METRICS = [
    ("qps", "cache-hit queries/s"),
    ("q_per_cpu_s", "queries per CPU-second"),
]
PEERS = ("unbound", "dnsmasq")


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
    """[(portico row name, metric label, vs unbound, vs dnsmasq, vs better peer)]."""
    out = []
    peers = {n: _peer(results, n) for n in PEERS}
    for row in results:
        if row["kind"] != "portico" or "failed" in row or row.get("info"):
            continue
        for key, label in RATIO_METRICS:
            vals = {n: (p[key] if p else None) for n, p in peers.items()}

            def ratio(v):
                return f"{row[key] / v:.2f}x" if v else "n/a"
            present = [v for v in vals.values() if v]
            best = max(present) if present else None
            out.append((row["name"], label, ratio(vals["unbound"]), ratio(vals["dnsmasq"]),
                        ratio(best)))
    return out


def text_table(results):
    headers = ["server"] + [h for _, h, _ in COLUMNS]
    rows = []
    for r in results:
        cells = _cells(r)
        name = r["name"] + (" (info)" if r.get("info") else "")
        rows.append([name, cells[0]] if "failed" in r else [name] + cells)
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
        lines.append(f"{'portico':18} {'metric':24} {'/unbound':>9} {'/dnsmasq':>9} {'/best peer':>10}")
        for name, label, u, d, b in rat:
            lines.append(f"{name:18} {label:24} {u:>9} {d:>9} {b:>10}")
    return "\n".join(lines)


def markdown(results, info, params, started):
    md = [f"# DNS cache-hit comparison, {started:%Y-%m-%d %H:%M}", ""]
    md += ["## Machine", "",
           f"- nproc: {info['nproc']} ({info['cpu']})",
           f"- kernel: {info['kernel']}; OS: {info['os']}",
           f"- unbound: {info['unbound']}; dnsmasq: {info['dnsmasq']}; dnsperf: {info['dnsperf']}",
           f"- portico: {info['portico']}",
           f"- load average at start: {' '.join(info['loadavg'])} (the machine is shared; "
           "numbers are noisy)", ""]
    md += ["## Method", "",
           f"- Each server is a caching forwarder (one thread / one worker) pinned to core "
           f"{params['server_core']}; dnsperf (one thread, {params['clients']} client "
           f"socket(s), {params['outstanding']} queries in flight) and the upstream are pinned "
           f"to core {params['load_core']}.",
           f"- Upstream: one unbound serving {params['names']} A records (`local-data`, TTL 1 "
           "day) for `nI.bench.test.`; every forwarder forwards to it.",
           f"- Warm-up: every name once (`dnsperf -n 1`), then {params['warm_seconds']:g} s of "
           f"load; then the measured run of {params['seconds']:g} s. Every measured query is a "
           "cache hit.",
           "- q/s and mean latency are dnsperf's. q/CPU-s = queries completed / the server's "
           "CPU time (utime+stime from /proc/PID/stat, all threads, 10 ms ticks) over the same "
           "run. One dnsperf thread saturates its core before the servers do, so q/s is "
           "capped by the load side; q/CPU-s is the efficiency figure.",
           f"- {params['reps']} rounds, servers interleaved; each cell is the median over the "
           f"rounds. portico dns.udp_batch: {params['udp_batch']}. An `(info)` row is for "
           "information only and is not used in the ratios.",
           "- `q/wakeup`: queries completed / voluntary context switches of the server's "
           "threads (/proc/PID/task/*/status): how many queries it handles each time it wakes.",
           "- `dnsperf CPU%`: the load generator's CPU (100 = its core saturated). `other%`: "
           "CPU used by everything else on the machine during the runs (other users, kernel "
           "threads), in % of one core, from /proc/stat.", ""]
    md += ["## Results", "",
           "| server | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
           "|---|" + "---:|" * len(COLUMNS)]
    for r in results:
        name = r["name"] + (" (info)" if r.get("info") else "")
        md.append(f"| {name} | " + " | ".join(_cells(r)) + " |")
    md.append("")
    noisy = [r["name"] for r in results if "failed" not in r and r["other_pct"] > 25]
    if noisy:
        md += [f"**Disturbed run**: other work on the shared machine used more than 25% of a "
               f"core during the runs of {', '.join(noisy)} (column other%). Treat these "
               "numbers as indicative.", ""]
    rat = ratios(results)
    md += ["## Ratios (portico / peer; >1 means portico is better)", ""]
    if rat:
        md += ["| portico | metric | / unbound | / dnsmasq | / better peer |",
               "|---|---|---:|---:|---:|"]
        md += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rat]
    else:
        md.append("No portico row was measured, so there are no ratios.")
    md += ["", "## Generated configs", ""]
    for r in results:
        if r.get("conf"):
            md += [f"### {r['name']}", "", "```", r["conf"].rstrip(), "```", ""]
    return "\n".join(md)
