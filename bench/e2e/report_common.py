"""Table pieces shared by the suite reports (l4_report, http_report, tls_report,
dns_report) and the all-suites report (all_report): cells, the terminal table, the
Markdown tables, the portico / peer ratios.

A suite's `results` is a list of rows (dicts) with at least "name" and "kind"; a row
that could not be measured has "failed" (the reason) instead of figures; an "info"
row is shown but kept out of the ratios. `columns` is a list of (key, header, format);
a missing or None value prints as "-"."""


def cells(row, columns):
    if "failed" in row:
        return [row["failed"]] + [""] * (len(columns) - 1)
    return ["-" if row.get(key) is None else fmt.format(row[key]) for key, _, fmt in columns]


def row_label(row, mark_info=True):
    return row["name"] + (" (info)" if mark_info and row.get("info") else "")


def find_row(results, name):
    """The measured row called `name`, or None (absent or failed)."""
    for r in results:
        if r["name"] == name and "failed" not in r:
            return r
    return None


def portico_rows(results):
    """The measured portico rows that count (not info rows), in table order."""
    return [r for r in results if r["kind"] == "portico" and "failed" not in r
            and not r.get("info")]


def ratio(mine, theirs, higher=True):
    """portico / peer for higher-is-better figures, peer / portico otherwise, so that
    > 1 always means portico is better; None when either side is missing or zero."""
    if not mine or not theirs:
        return None
    return mine / theirs if higher else theirs / mine


def best(values, higher=True):
    present = [v for v in values if v]
    if not present:
        return None
    return max(present) if higher else min(present)


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}x"


def ratios(results, metrics, peers):
    """[(portico row name, metric label, ratio vs each peer..., ratio vs the better peer)]
    as strings; metrics are (key, label), (key, label, higher is better) or (key, label,
    higher, peers that count for the better peer: default all)."""
    out = []
    found = [find_row(results, n) for n in peers]
    for row in portico_rows(results):
        for metric in metrics:
            key, label = metric[0], metric[1]
            higher = metric[2] if len(metric) > 2 else True
            best_of = metric[3] if len(metric) > 3 else peers
            vals = [p.get(key) if p else None for p in found]
            mine = row.get(key)
            ref = best([v for n, v in zip(peers, vals) if n in best_of], higher)
            out.append((row["name"], label,
                        *[fmt_ratio(ratio(mine, v, higher)) for v in vals],
                        fmt_ratio(ratio(mine, ref, higher))))
    return out


def _aligned(rows, headers):
    """Right-aligned columns (the first left-aligned); a 2-cell row is a name + message."""
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
    return lines


def text_table(results, columns, first, peers, rat, metric_width, mark_info=True):
    """The terminal table of a suite, then its ratios (from ratios())."""
    headers = [first] + [h for _, h, _ in columns]
    rows = []
    for r in results:
        c, name = cells(r, columns), row_label(r, mark_info)
        rows.append([name, c[0]] if "failed" in r else [name] + c)
    lines = _aligned(rows, headers)
    if rat:
        heads = [f"/{p}" for p in peers] + ["/best peer"]
        widths = [max(9, len(h)) for h in heads]
        lines.append("")
        lines.append(f"{'portico':18} {'metric':{metric_width}} "
                     + " ".join(h.rjust(w) for h, w in zip(heads, widths)))
        for name, label, *vals in rat:
            lines.append(f"{name:18} {label:{metric_width}} "
                         + " ".join(v.rjust(w) for v, w in zip(vals, widths)))
    return "\n".join(lines)


def md_results(results, columns, first, mark_info=True):
    md = ["| " + first + " | " + " | ".join(h for _, h, _ in columns) + " |",
          "|---|" + "---:|" * len(columns)]
    for r in results:
        md.append(f"| {row_label(r, mark_info)} | " + " | ".join(cells(r, columns)) + " |")
    md.append("")
    return md


def md_noisy(results, tail="Treat these numbers as indicative and re-run on a quiet machine."):
    noisy = [r["name"] for r in results if "failed" not in r and r.get("other_pct", 0) > 25]
    if not noisy:
        return []
    return [f"**Disturbed run**: other work on the shared machine used more than 25% of a "
            f"core during the runs of {', '.join(noisy)} (column other%). {tail}", ""]


def md_ratios(rat, heads):
    """The ratio table; heads are the headers of the ratio columns (each peer, then the
    better peer)."""
    if not rat:
        return ["No portico row was measured, so there are no ratios.", ""]
    md = ["| portico | metric | " + " | ".join(heads) + " |",
          "|---|---|" + "---:|" * len(heads)]
    md += ["| " + " | ".join(r) + " |" for r in rat]
    md.append("")
    return md


def md_configs(results, extra=()):
    """The configs each row ran with; extra = [(title, text)] first (origin, upstream)."""
    md = ["## Generated configs", ""]
    items = list(extra) + [(r["name"], r["conf"]) for r in results if r.get("conf")]
    for title, text in items:
        md += [f"### {title}", "", "```", text.rstrip(), "```", ""]
    return md


def md_machine(info, tools):
    """The '## Machine' section of a suite report: cores, kernel, the versions of
    `tools` (keys of info), the portico commit, the load average at start."""
    md = ["## Machine", "",
          f"- nproc: {info['nproc']} ({info['cpu']})",
          f"- kernel: {info['kernel']}; OS: {info['os']}"]
    md += [f"- {t}: {info.get(t, 'unknown')}" for t in tools]
    md += [f"- portico: {info['portico']}",
           f"- load average at start: {' '.join(info['loadavg'])} (the machine is shared; "
           "numbers are noisy)"]
    return md
