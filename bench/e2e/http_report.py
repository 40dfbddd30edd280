"""Formats the HTTP comparison (bench/e2e/http_bench.py) as a terminal table and as Markdown."""
import report_common as rc

COLUMNS = [  # (key, header, format); None values print as "-"
    ("req_s", "req/s", "{:.0f}"),
    ("pct_direct", "% direct", "{:.0f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("req_per_cpu_s", "req/CPU-s", "{:.0f}"),
    ("cpu_pct", "CPU%", "{:.0f}"),
    ("load_pct", "load CPU%", "{:.0f}"),
    ("errors", "errors", "{:d}"),
    ("bytes_per_conn", "B/idle conn", "{:.0f}"),
    ("rss_high_mib", "Rss MiB @high", "{:.1f}"),
    ("other_pct", "other%", "{:.0f}"),
]
# (key, label, higher is better). For lower-is-better metrics the ratio is inverted
# (peer / portico) so that > 1 always means portico is better.
RATIO_METRICS = [
    ("req_s", "requests/s", True),
    ("req_per_cpu_s", "requests per CPU-second", True),
    ("p99_ms", "p99 latency (peer/portico)", False),
    ("bytes_per_conn", "bytes per idle conn (peer/portico)", False),
]
PEERS = ("nginx", "haproxy")


def _with_direct(results):
    direct = next((r for r in results if r["kind"] == "direct" and "failed" not in r), None)
    for r in results:
        if "failed" not in r:
            r["pct_direct"] = 100 * r["req_s"] / direct["req_s"] if direct else None
    return results


def ratios(results):
    """[(portico row name, metric label, vs nginx, vs haproxy, vs better peer)]."""
    return rc.ratios(results, RATIO_METRICS, PEERS)


def text_table(results):
    _with_direct(results)
    return rc.text_table(results, COLUMNS, "proxy", PEERS, ratios(results), 36,
                         mark_info=False)


def markdown(results, info, params, started):
    _with_direct(results)
    md = [f"# HTTP/1.1 proxy comparison, {started:%Y-%m-%d %H:%M}", ""]
    md += rc.md_machine(info, ("haproxy", "nginx", "wrk"))
    md += [f"- RLIMIT_NOFILE of the harness and every process it starts: {params['nofile']}",
           ""]
    md += ["## Method", "",
           f"- Proxy pinned to core {params['proxy_core']} (one worker / one thread); the "
           f"origin (nginx, 1 worker, `return 200` with a fixed 64-byte body) and the load "
           f"clients pinned to core {params['load_core']}.",
           f"- Throughput: `wrk -t1 -c{params['connections']} -d{params['duration']}s "
           "--latency` (keep-alive, `GET /`) after a "
           f"{params['warmup']} s warm-up on the same proxy process. req/s, p50 and p99 are "
           "wrk's. `% direct` = req/s relative to wrk straight to the origin (the ceiling "
           "of this load side).",
           "- Efficiency: requests divided by the proxy's CPU time (utime+stime from "
           "/proc/PID/stat, all threads, 10 ms ticks) over the measured run. CPU% = proxy CPU "
           "time / wall time (100 = its core saturated). `load CPU%` = wrk + origin on their "
           "shared core: near 100 means the load side, not the proxy, limits req/s.",
           f"- Memory: a small client (`bench_http_idle`) opens {params['idle_low']} keep-alive "
           "connections through the proxy, each sending one request and reading the whole "
           f"response, then idling; Rss of the proxy (`/proc/PID/smaps_rollup`) is read; then "
           f"it grows to {params['idle_high']} and Rss is read again. `B/idle conn` = Rss "
           "growth / connections added; `Rss MiB @high` = Rss with "
           f"{params['idle_high']} idle connections. Rss is user-space memory only (socket "
           "buffers are kernel memory and not in it); memory preallocated at start-up for "
           "the configured connection limit (nginx's connection and event arrays, "
           "`worker_connections` entries) is in the absolute Rss, not in the growth. "
           "The client checks afterwards that the proxy kept every connection open.",
           f"- {params['reps']} round{'s' if params['reps'] > 1 else ''}; each round starts every proxy in turn, runs the "
           "warm-up, one measured wrk run and the memory step, and stops it. Each cell is "
           "the median over the rounds; `errors` sums wrk's socket errors and non-2xx "
           "responses over the rounds.",
           "- No access logging anywhere; keep-alive to the origin everywhere (portico "
           f"`pool.max_idle: {params['connections']}`, nginx `keepalive "
           f"{params['connections']}` with `proxy_http_version 1.1` and `Connection \"\"`, "
           "HAProxy `http-reuse always`). nginx's per-connection request cap "
           "(`keepalive_requests`, default 1000) is raised so that it never closes a wrk "
           "connection; portico and HAProxy have no such cap. Portico adds its default "
           "request headers (X-Forwarded-*, Via, X-Request-Id); the peers add none.",
           "- `other%`: CPU used by everything else on the machine during the runs (other "
           "users, kernel threads), in % of one core, from /proc/stat. High values mean the "
           "row was disturbed; before each round of a proxy the harness waits (bounded) for "
           "a quiet machine.", ""]
    md += ["## Results", ""] + rc.md_results(results, COLUMNS, "proxy", mark_info=False)
    md += rc.md_noisy(results)
    mem = [r for r in results if "failed" not in r and r.get("mem")]
    if mem:
        md += ["Idle memory detail (median Rss at the two steps): " + ", ".join(
            f"{r['name']}: {r['rss_low_mib']:.1f} -> {r['rss_high_mib']:.1f} MiB"
            for r in mem), ""]
    md += ["## Ratios (>1 means portico is better)", ""]
    md += rc.md_ratios(ratios(results), ["vs nginx", "vs haproxy", "vs better peer"])
    md += rc.md_configs(results, [("origin (nginx)", params["origin_conf"])])
    return "\n".join(md)
