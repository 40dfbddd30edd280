"""Formats the L4 comparison (bench/e2e/l4.py) as a terminal table and as Markdown."""
import report_common as rc

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
# Portico splices bulk streams by default (listener key splice), so for the stream
# HAProxy with option splice-auto is a peer too: the better peer is the best of the
# three. The storm never splices: there it is the better of haproxy and nginx (a
# second HAProxy row would only be a second sample of the same thing).
PEERS = ("haproxy", "nginx", "haproxy splice-auto")
STORM_PEERS = ("haproxy", "nginx")
RATIO_METRICS = [
    ("mib_s", "stream MiB/s"),
    ("gib_per_cpu_s", "stream GiB per CPU-second"),
    ("conns_s", "connections/s", True, STORM_PEERS),
    ("conns_per_cpu_s", "connections per CPU-second", True, STORM_PEERS),
]


def ratios(results):
    """[(portico row name, metric label, vs haproxy, vs nginx, vs better peer)]."""
    return rc.ratios(results, RATIO_METRICS, PEERS)


def text_table(results):
    return rc.text_table(results, COLUMNS, "proxy", PEERS, ratios(results), 28)


def markdown(results, info, params, started):
    gib = params["bytes"] / 1024 ** 3
    md = [f"# L4 (TCP) proxy comparison, {started:%Y-%m-%d %H:%M}", ""]
    md += rc.md_machine(info, ("haproxy", "nginx")) + [""]
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
           "- Peers run with their defaults except what the configs below say: no logging. "
           "Portico splices bulk streams by default (listener key `splice`), HAProxy only "
           "with `option splice-*`, nginx stream never: so HAProxy runs twice, as shipped and "
           "with `option splice-auto`; for the stream the better peer is the best of the three "
           "rows, for the storm (which never splices) the better of haproxy and nginx.",
           "- `other%`: CPU used by everything else on the machine during the runs (other "
           "users, kernel threads), in % of one core, from /proc/stat. High values mean the "
           "row was disturbed; before each round of a proxy the harness waits (bounded) for a quiet "
           "machine.", ""]
    md += ["## Results", ""] + rc.md_results(results, COLUMNS, "proxy") + rc.md_noisy(results)
    load = [r for r in results if "failed" not in r]
    if load:
        md += ["Load side (client + origin) CPU% on its core, to spot a saturated load "
               "generator: " + ", ".join(
                   f"{r['name']}: stream {r['stream_load_pct']:.0f}%, storm "
                   f"{r['storm_load_pct']:.0f}%" for r in load), ""]
    md += ["## Ratios (portico / peer; >1 means portico is better)", ""]
    md += rc.md_ratios(ratios(results), ["/ haproxy", "/ nginx", "/ haproxy splice-auto",
                                         "/ better peer"])
    md += rc.md_configs(results)
    return "\n".join(md)
