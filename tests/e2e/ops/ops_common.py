"""Helpers for the operations e2e tests: configs with the admin endpoint on, a raw
admin client, and a strict parser of the Prometheus text exposition format."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import TestFailure, TestSkip, check, log  # noqa: E402


def ops_config(admin_port: int, listeners: str, clusters: str = "", token: str | None = None,
               workers: int = 2, extra: str = "", access_log: str = "off") -> str:
    cl = f"clusters:\n{clusters.rstrip()}\n" if clusters.strip() else "clusters: []\n"
    tok = f", token: \"{token}\"" if token else ""
    return (f"workers: {workers}\n"
            f"event_loop: auto\n"
            f"drain_timeout: 5s\n"
            f"log: {{ level: info, access: {{ path: \"{access_log}\", format: json }} }}\n"
            f"admin: {{ bind: \"127.0.0.1:{admin_port}\"{tok} }}\n"
            f"{extra}"
            f"listeners:\n{listeners.rstrip()}\n"
            f"{cl}")


def admin_raw(port: int, data: bytes, timeout: float = 20.0, head: bool = False) -> tuple[int, dict, bytes]:
    """Sends raw bytes to the admin port and reads until close; returns (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            out += b
    finally:
        s.close()
    i = out.find(b"\r\n\r\n")
    if i < 0:
        raise TestFailure(f"admin: no response head in {out[:200]!r}")
    lines = out[:i].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = out[i + 4:]
    if head:
        check(body == b"", f"admin: HEAD response has a body {body[:100]!r}")
    elif "content-length" in headers:
        check(len(body) == int(headers["content-length"]),
              f"admin: body length {len(body)} != Content-Length {headers['content-length']}")
    return status, headers, body


def admin(port: int, path: str, method: str = "GET", token: str | None = None,
          timeout: float = 20.0) -> tuple[int, dict, bytes]:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    req = f"{method} {path} HTTP/1.1\r\nHost: admin\r\n{auth}Content-Length: 0\r\n\r\n".encode()
    return admin_raw(port, req, timeout, head=method == "HEAD")


_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prometheus(text: str) -> dict:
    """Parses and validates the text format. Returns {(name, ((k, v), ...)): value}.
    Checks: every sample's family has HELP and TYPE before it, TYPE values, label
    syntax, no duplicate series, counters >= 0, histograms with ascending le,
    cumulative buckets, +Inf bucket == _count, and a _sum."""
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict = {}
    order: list = []
    check(text.endswith("\n"), "exposition must end with a newline")
    for ln in text.split("\n")[:-1]:
        if ln.startswith("# HELP "):
            parts = ln.split(" ", 3)
            check(len(parts) == 4 and _NAME.match(parts[2]), f"bad HELP line {ln!r}")
            check(parts[2] not in helps, f"duplicate HELP for {parts[2]}")
            helps.add(parts[2])
            continue
        if ln.startswith("# TYPE "):
            parts = ln.split(" ")
            check(len(parts) == 4 and _NAME.match(parts[2]), f"bad TYPE line {ln!r}")
            check(parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), f"bad type in {ln!r}")
            check(parts[2] not in types, f"duplicate TYPE for {parts[2]}")
            types[parts[2]] = parts[3]
            continue
        check(not ln.startswith("#") and ln.strip() != "", f"unexpected line {ln!r}")
        m = _SAMPLE.match(ln)
        check(m is not None, f"bad sample line {ln!r}")
        name, _, lbl, val = m.groups()
        labels = []
        if lbl:
            pos = 0
            while pos < len(lbl):
                lm = _LABEL.match(lbl, pos)
                check(lm is not None, f"bad labels in {ln!r}")
                labels.append((lm.group(1), lm.group(2)))
                pos = lm.end()
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in types and types[name[: -len(suffix)]] == "histogram":
                family = name[: -len(suffix)]
        check(family in types and family in helps, f"sample {name} before its TYPE/HELP")
        v = float(val)
        if types[family] == "counter":
            check(name.endswith("_total") and v >= 0, f"counter {name} must end in _total and be >= 0")
        key = (name, tuple(labels))
        check(key not in samples, f"duplicate series {key}")
        samples[key] = v
        order.append(key)
    # histograms
    for fam, ty in types.items():
        if ty != "histogram":
            continue
        series: dict = {}
        for (name, labels) in order:
            if name != fam + "_bucket":
                continue
            le = dict(labels)["le"]
            rest = tuple(kv for kv in labels if kv[0] != "le")
            series.setdefault(rest, []).append((le, samples[(name, labels)]))
        for rest, buckets in series.items():
            check(buckets[-1][0] == "+Inf", f"{fam}{rest}: last bucket must be +Inf")
            les = [float(le) for le, _ in buckets]
            check(les == sorted(les), f"{fam}{rest}: le not ascending")
            counts = [c for _, c in buckets]
            check(counts == sorted(counts), f"{fam}{rest}: buckets not cumulative {counts}")
            check(samples.get((fam + "_count", rest)) == counts[-1], f"{fam}{rest}: _count != +Inf bucket")
            check((fam + "_sum", rest) in samples, f"{fam}{rest}: no _sum")
    return samples


def metric(samples: dict, name: str, **labels) -> float:
    want = set(labels.items())
    found = [v for (n, lbl), v in samples.items() if n == name and want <= set(lbl)]
    check(len(found) == 1, f"metric {name}{labels}: expected one series, found {len(found)}")
    return found[0]


def scrape(port: int, token: str | None = None) -> dict:
    st, h, body = admin(port, "/metrics", token=token)
    check(st == 200, f"/metrics: status {st}")
    check(h.get("content-type", "").startswith("text/plain; version=0.0.4"), f"/metrics content-type {h}")
    return parse_prometheus(body.decode())


class WrkLoad:
    """A bounded wrk run (keep-alive, `threads` x `connections`, `duration` s) in a
    background thread, for tests that change something under load. finish() asserts
    that wrk ran to its end, made more than `min_requests` requests, every response
    was 2xx and it saw no socket error; it returns the number of requests."""

    def __init__(self, url: str, duration: int, threads: int = 2, connections: int = 16) -> None:
        wrk = shutil.which("wrk")
        if not wrk:
            raise TestSkip("wrk is not installed (scripts/setup test)")
        self.duration = duration
        self.cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", url]
        self._result: subprocess.CompletedProcess | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._result = subprocess.run(self.cmd, capture_output=True, text=True, timeout=self.duration + 20)

    def start(self) -> "WrkLoad":
        log(" ".join(self.cmd))
        self._thread.start()
        return self

    def finish(self, what: str, min_requests: int = 1000) -> int:
        self._thread.join(self.duration + 25)
        r = self._result
        check(r is not None, "wrk did not finish")
        log(r.stdout)
        check(r.returncode == 0, f"wrk exited {r.returncode}: {r.stderr}")
        m = re.search(r"(\d+) requests in", r.stdout)
        check(m is not None and int(m.group(1)) > min_requests, f"too few requests: {r.stdout}")
        check("Non-2xx" not in r.stdout, f"non-2xx responses {what}:\n{r.stdout}")
        check("Socket errors" not in r.stdout, f"socket errors {what}:\n{r.stdout}")
        return int(m.group(1))
