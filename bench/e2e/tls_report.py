"""Formats the TLS comparison (bench/e2e/tls_bench.py) as a terminal table and as Markdown."""
import report_common as rc

COLUMNS = [  # (key, header, format); None values print as "-"
    ("full_s", "full/s", "{:.0f}"),
    ("full_per_cpu_s", "full/CPU-s", "{:.0f}"),
    ("resumed_s", "resumed/s", "{:.0f}"),
    ("resumed_per_cpu_s", "resumed/CPU-s", "{:.0f}"),
    ("ka_s", "keep-alive req/s", "{:.0f}"),
    ("ka_per_cpu_s", "keep-alive req/CPU-s", "{:.0f}"),
    ("bytes_per_conn", "B/idle TLS conn", "{:.0f}"),
    ("other_pct", "other%", "{:.0f}"),
]
# (key, label, higher is better); lower-is-better ratios are peer / portico.
RATIO_METRICS = [
    ("full_s", "full handshakes/s", True),
    ("full_per_cpu_s", "full handshakes per CPU-second", True),
    ("resumed_s", "resumed handshakes/s", True),
    ("resumed_per_cpu_s", "resumed handshakes per CPU-second", True),
    ("ka_s", "keep-alive requests/s", True),
    ("ka_per_cpu_s", "keep-alive requests per CPU-second", True),
    ("bytes_per_conn", "bytes per idle TLS conn (peer/portico)", False),
]
PEERS = ("nginx", "haproxy")


def ratios(results):
    """[(portico row name, metric label, vs nginx, vs haproxy, vs better peer)]."""
    return rc.ratios(results, RATIO_METRICS, PEERS)


def text_table(results):
    return rc.text_table(results, COLUMNS, "server", PEERS, ratios(results), 40)


def markdown(results, info, params, started):
    md = [f"# TLS termination comparison, {started:%Y-%m-%d %H:%M}", ""]
    md += rc.md_machine(info, ("nginx", "haproxy", "wrk", "openssl")) + [""]
    md += ["## Method", "",
           "- portico (each loop backend), nginx and HAProxy each answer a fixed 64-byte "
           "response themselves over TLS 1.3 (ECDSA P-256 certificate); no origin behind "
           "them, so the figures are TLS + HTTP parsing cost only. One worker / one thread "
           f"pinned to core {params['proxy_core']}; the load clients pinned to core "
           f"{params['load_core']}.",
           f"- full: `openssl s_time -new` for {params['seconds']} s (a new full handshake "
           "and one GET per connection, never resumed); resumed: `openssl s_time -reuse` "
           "(session tickets); keep-alive: `wrk -t1 "
           f"-c{params['connections']} -d{params['seconds']}s` over HTTPS. Rates are the "
           "clients'; `/CPU-s` = handshakes or requests per second of server CPU "
           "(utime+stime from /proc/PID/stat, all threads, 10 ms ticks) over the same run. "
           "s_time is one OpenSSL process and may limit the handshake rates on a quiet "
           "machine: compare the per-CPU-second columns.",
           f"- Idle memory: python `ssl` clients open {params['idle_low']} TLS 1.3 keep-alive "
           "connections, each does one GET and stays open; the server's Rss "
           f"(`/proc/PID/smaps_rollup`) is read, then they grow to {params['idle_high']} and "
           "it is read again. `B/idle TLS conn` = Rss growth / connections added.",
           "- `other%`: CPU used by everything else on the machine during the busiest of the "
           "three runs (other users, kernel threads), in % of one core, from /proc/stat.", ""]
    md += ["## Results", ""] + rc.md_results(results, COLUMNS, "server") + rc.md_noisy(results)
    md += ["## Ratios (>1 means portico is better)", ""]
    md += rc.md_ratios(ratios(results), ["vs nginx", "vs haproxy", "vs better peer"])
    md += rc.md_configs(results)
    return "\n".join(md)
