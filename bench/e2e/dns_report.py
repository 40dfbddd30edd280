"""Formats the DNS comparison (bench/e2e/dns_bench.py) as a terminal table and as Markdown."""
import report_common as rc

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


def ratios(results):
    """[(portico row name, metric label, vs unbound, vs dnsmasq, vs better peer)]."""
    return rc.ratios(results, RATIO_METRICS, PEERS)


def text_table(results):
    return rc.text_table(results, COLUMNS, "server", PEERS, ratios(results), 24)


def markdown(results, info, params, started):
    md = [f"# DNS cache-hit comparison, {started:%Y-%m-%d %H:%M}", ""]
    md += rc.md_machine(info, ("unbound", "dnsmasq", "dnsperf")) + [""]
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
    md += ["## Results", ""] + rc.md_results(results, COLUMNS, "server")
    md += rc.md_noisy(results, "Treat these numbers as indicative.")
    md += ["## Ratios (portico / peer; >1 means portico is better)", ""]
    md += rc.md_ratios(ratios(results), ["/ unbound", "/ dnsmasq", "/ better peer"])
    md += rc.md_configs(results)
    return "\n".join(md)
