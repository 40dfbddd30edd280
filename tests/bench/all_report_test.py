#!/usr/bin/env python3
"""The report of `scripts/bench all` (bench/e2e/all_report.py) over a recorded run
(fixtures/all-run: run.json and one JSON per suite, figures edited so that the targets
land on both sides of their thresholds): the summary and per-suite tables, met / not
met, the PNG charts, a failed suite, latest.md's links. Also renders each suite's own
report (l4_report, http_report, tls_report, dns_report) from the same JSON. Runs no
benchmark; needs python3 and gnuplot."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(HERE, "..", "..", "bench", "e2e")
FIXTURE = os.path.join(HERE, "fixtures", "all-run")
sys.path.insert(0, E2E)
import all_report  # noqa: E402
import dns_report  # noqa: E402
import http_report  # noqa: E402
import l4_report  # noqa: E402
import tls_report  # noqa: E402
from all_report import MET, NA, NOT_MET, Target, evaluate  # noqa: E402


def table_line(md, section, metric):
    """The table line of `metric` inside '## <section>: ...'; its cells."""
    part = md.split(f"## {section}: ", 1)[1].split("\n## ", 1)[0]
    for line in part.splitlines():
        if line.startswith(f"| {metric} |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no line for {metric!r} in section {section}")


class Fixture(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="portico-all-report-")
        self.run_dir = os.path.join(self.tmp, "all-run")
        shutil.copytree(FIXTURE, self.run_dir)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def generate(self, *extra):
        r = subprocess.run([sys.executable, os.path.join(E2E, "all_report.py"), self.run_dir,
                            *extra], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.run_dir, "report.md")) as f:
            return f.read(), r.stdout

    def assert_png(self, name):
        path = os.path.join(self.run_dir, name)
        self.assertTrue(os.path.exists(path), f"{name} was not drawn")
        with open(path, "rb") as f:
            head = f.read(8)
        self.assertEqual(head, b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG")
        self.assertGreater(os.path.getsize(path), 5000, f"{name} is suspiciously small")


class ReportFromFixture(Fixture):
    def test_summary_tables_and_charts(self):
        md, out = self.generate()
        for s in ("l4", "http", "tls", "dns"):
            self.assert_png(f"{s}.png")
            self.assertIn(f"![{s} chart]({s}.png)", md)
        # Summary: targets met per backend, per suite.
        self.assertIn("| [l4](#l4) | ok | 1/2 | 0/2 |", md)
        self.assertIn("| [http](#http) | ok | 2/3 | 1/3 |", md)
        self.assertIn("| [tls](#tls) | ok | 3/4 | 2/4 |", md)
        self.assertIn("| [dns](#dns) | ok | 1/1 | 0/1 |", md)
        self.assertIn("Every suite ran.", md)
        self.assertIn("l4    ok; portico io_uring: 1/2 targets met", out)
        # l4: exactly 1.2x the better peer is met; the stream's peers include HAProxy
        # with splice-auto (portico splices), the storm's do not (the fixture's
        # splice-auto row, far better at the storm, is not its reference); a failed
        # portico row is n/a.
        c = table_line(md, "l4", "stream GiB per CPU-second")
        self.assertEqual(c[1], "haproxy 1.00")
        self.assertEqual(c[2], "1.20 (1.20x)")
        self.assertEqual(c[4], ">= 1.2x the better of haproxy/nginx/haproxy splice-auto")
        self.assertEqual(c[-2:], ["**met**", NA])
        c = table_line(md, "l4", "connections per CPU-second")
        self.assertEqual((c[1], c[4], c[-2]), ("nginx 10000", ">= 1.2x the better of haproxy/nginx", NOT_MET))
        self.assertIn("portico epoll (failed to start: (fixture) address in use)", md)
        # http: req/CPU-s vs the better peer; p99 no worse than the lower peer p99;
        # bytes per idle connection <= 400.
        self.assertEqual(table_line(md, "http", "requests per CPU-second")[-2:],
                         ["**met**", NOT_MET])
        c = table_line(md, "http", "p99 latency")
        self.assertEqual((c[1], c[-2], c[-1]), ("nginx 10.0 ms", NOT_MET, "**met**"))
        c = table_line(md, "http", "bytes per idle connection")
        self.assertEqual((c[4], c[-2], c[-1]), ("<= 400 B", "**met**", NOT_MET))
        # tls: against nginx; 8192 B is within 8 KiB; 1.99x is not 2x.
        self.assertEqual(table_line(md, "tls", "full handshakes per CPU-second")[-2:],
                         ["**met**", "**met**"])
        self.assertEqual(table_line(md, "tls", "resumed handshakes per CPU-second")[-2:],
                         [NOT_MET, "**met**"])
        self.assertEqual(table_line(md, "tls", "keep-alive requests per CPU-second")[-2:],
                         ["**met**", NOT_MET])
        self.assertEqual(table_line(md, "tls", "bytes per idle TLS connection")[-2:],
                         ["**met**", NOT_MET])
        # dns: 2x unbound (not the better peer, dnsmasq)
        c = table_line(md, "dns", "queries per CPU-second")
        self.assertEqual((c[1], c[-2], c[-1]), ("unbound 100000", "**met**", NOT_MET))
        # machine, versions, load averages, configs
        for text in ("AMD EPYC (fixture), 2 cores", "24105 MiB", "| nginx | nginx version",
                     "| portico commit |", "| dnsperf |", "0.10 0.20 0.30 at start",
                     "0.10 0.20 0.30 -> 1.00 0.50 0.40",
                     "[haproxy.cfg](configs/l4/haproxy.cfg)"):
            self.assertIn(text, md)

    def test_failed_suite_is_reported_and_the_others_still_are(self):
        path = os.path.join(self.run_dir, "run.json")
        with open(path) as f:
            run = json.load(f)
        tls = next(r for r in run["suites"] if r["suite"] == "tls")
        os.remove(os.path.join(self.run_dir, tls.pop("json")))
        tls.pop("md")
        tls.update(rc=1, failed="exit status 1", log_tail="Traceback: (fixture) boom")
        run["suites"] = [r for r in run["suites"] if r["suite"] != "dns"]  # never ran
        with open(path, "w") as f:
            json.dump(run, f)
        md, _ = self.generate()
        self.assertIn("| [tls](#tls) | **failed**: exit status 1 | - | - |", md)
        self.assertIn("| dns | not run |", md)
        self.assertIn("Failed or not run: tls, dns", md)
        self.assertIn("Traceback: (fixture) boom", md)
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "tls.png")))
        self.assert_png("l4.png")
        self.assert_png("http.png")

    def test_latest_links_into_the_run_directory(self):
        latest = os.path.join(self.tmp, "latest.md")
        self.generate("--latest", latest)
        with open(latest) as f:
            md = f.read()
        self.assertIn("![l4 chart](all-run/l4.png)", md)
        self.assertIn("(all-run/configs/l4/haproxy.cfg)", md)

    def test_each_suite_report_renders_from_its_json(self):
        started = datetime.datetime(2026, 1, 1, 10, 0)
        for mod, name in ((l4_report, "l4"), (http_report, "http"), (tls_report, "tls"),
                          (dns_report, "dns")):
            run_json = [f for f in os.listdir(self.run_dir) if f.startswith(name + "-")][0]
            with open(os.path.join(self.run_dir, run_json)) as f:
                d = json.load(f)
            md = mod.markdown(d["results"], d["info"], d["params"], started)
            self.assertIn("## Ratios", md)
            self.assertIn("| portico io_uring |", md)
            self.assertIn("## Generated configs", md)
            self.assertIn("portico io_uring", mod.text_table(d["results"]))


class Targets(unittest.TestCase):
    def statuses(self, target, rows):
        ev = evaluate(target, rows)
        return ev["portico io_uring"][2], ev["portico epoll"][2]

    def test_ratio_thresholds(self):
        t = Target("k", "k", "", 1.2, ("nginx", "haproxy"))
        rows = [{"name": "portico io_uring", "kind": "portico", "k": 120.0},
                {"name": "portico epoll", "kind": "portico", "k": 119.9},
                {"name": "nginx", "kind": "nginx", "k": 100.0},
                {"name": "haproxy", "kind": "haproxy", "k": 60.0}]
        self.assertEqual(self.statuses(t, rows), (MET, NOT_MET))

    def test_lower_is_better_and_limits(self):
        p99 = Target("k", "p99", "ms", 1.0, ("nginx", "haproxy"), higher=False)
        rows = [{"name": "portico io_uring", "kind": "portico", "k": 5.0},
                {"name": "portico epoll", "kind": "portico", "k": 5.01},
                {"name": "nginx", "kind": "nginx", "k": 9.0},
                {"name": "haproxy", "kind": "haproxy", "k": 5.0}]
        self.assertEqual(self.statuses(p99, rows), (MET, NOT_MET))
        mem = Target("k", "bytes", "B", 400, kind="limit")
        rows[0]["k"], rows[1]["k"] = 400.0, 400.5
        self.assertEqual(self.statuses(mem, rows), (MET, NOT_MET))

    def test_missing_sides_are_not_applicable(self):
        t = Target("k", "k", "", 2.0, ("unbound",))
        rows = [{"name": "portico io_uring", "kind": "portico", "k": 300.0},
                {"name": "portico epoll", "kind": "portico", "failed": "did not start"},
                {"name": "unbound", "kind": "unbound", "failed": "did not start"},
                {"name": "dnsmasq", "kind": "dnsmasq", "k": 100.0}]
        self.assertEqual(self.statuses(t, rows), (NA, NA))
        rows[2] = {"name": "unbound", "kind": "unbound", "k": 150.0}
        self.assertEqual(self.statuses(t, rows), (MET, NA))

    def test_every_suite_has_targets_and_charts(self):
        for s, spec in all_report.SUITES.items():
            self.assertTrue([t for t in spec["rows"] if t.kind != "info"], s)
            self.assertTrue(spec["charts"], s)


if __name__ == "__main__":
    unittest.main(verbosity=2)
