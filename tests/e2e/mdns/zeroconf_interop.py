#!/usr/bin/env python3
"""Interop with python-zeroconf (Debian's python3-zeroconf, run with /usr/bin/python3 in
namespace B; portico in namespace A), a second mDNS implementation besides Avahi:
  1. portico finds the service zeroconf registers (host, port, IPv4 address, TXT);
  2. zeroconf's browser resolves portico's service (server, port, IPv4 address, TXT);
  3. a reload that withdraws portico's service: zeroconf reports it removed (goodbye);
  4. zeroconf stops (unregister = goodbye): portico logs `mdns: removed` within 2 s.
Skipped (77) when python3-zeroconf is not installed."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import Helper, NetnsPair, NsPortico, TestContext, TestSkip, check, log, mdns_config  # noqa: E402
from portico_harness import main  # noqa: E402

PY = "/usr/bin/python3"
ALPHA = mdns_config("alpha", services='[ { name: "Alpha web", type: _http._tcp, port: 8080, txt: { path: "/a" } } ]')
ALPHA_NO_SERVICE = mdns_config("alpha")


def run(t: TestContext) -> None:
    if subprocess.run([PY, "-c", "import zeroconf"], capture_output=True).returncode != 0:
        raise TestSkip("python3-zeroconf is not installed for /usr/bin/python3 (scripts/setup test)")
    peer_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zeroconf_peer.py")
    with NetnsPair() as pair:
        peer = None
        try:
            p = NsPortico(t, pair, 0, ALPHA, name="alpha")
            p.start()
            p.wait_started(t.backend)
            peer = Helper(t, "zeroconf", pair.exec_prefix(1) + [
                PY, peer_script, "--address", pair.ipv4[1], "--name", "Zeroconf svc", "--host", "zeropeer",
                "--port", "4321"], env={"PYTHONDONTWRITEBYTECODE": "1"})
            peer.wait_output(r"^ready$", timeout=15, what="zeroconf ready")

            # 1. portico finds zeroconf's service.
            got = p.wait_added("Zeroconf svc", timeout=15)
            log(f"portico saw {got}")
            check(got["host"] == "zeropeer.local" and got["port"] == "4321", f"zeroconf service: {got}")
            check(got["addresses"] == pair.ipv4[1], f"zeroconf service addresses: {got['addresses']}")
            check(got["txt"] == "z=1", f"zeroconf TXT: {got['txt']!r}")

            # 2. zeroconf resolves portico's service.
            m = peer.wait_output(r"^resolved name=Alpha web\._http\._tcp\.local\. (.*)$", timeout=15,
                                 what="zeroconf resolving 'Alpha web'")
            log(f"zeroconf saw {m.group(1)}")
            seen = dict(kv.split("=", 1) for kv in m.group(1).split(" "))
            check(seen["server"] == "alpha.local." and seen["port"] == "8080" and seen["txt"] == "path=/a",
                  f"zeroconf's view of portico: {m.group(1)}")
            # zeroconf listens on IPv4 only, but takes the AAAA record portico adds too.
            check(pair.ipv4[0] in seen["addresses"].split(","), f"zeroconf's addresses of portico: {seen}")

            # 3. portico withdraws its service on reload: goodbye.
            t0 = time.monotonic()
            status, text = p.reload(ALPHA_NO_SERVICE)
            check(status == "ok", f"reload failed: {text}")
            peer.wait_output(r"^removed name=Alpha web\._http\._tcp\.local\.$", timeout=3,
                             what="zeroconf removing 'Alpha web'")
            log(f"zeroconf removed 'Alpha web' {time.monotonic() - t0:.2f}s after the reload")

            # 4. zeroconf unregisters: portico drops the instance at once.
            off = p.log_offset()
            t0 = time.monotonic()
            peer.stop()
            check(peer.proc.returncode == 0, f"zeroconf peer exited with {peer.proc.returncode}: {peer.text('err')}")
            p.wait_removed("Zeroconf svc", timeout=max(0.1, 2.0 - (time.monotonic() - t0)), start=off)
            log(f"portico removed 'Zeroconf svc' {time.monotonic() - t0:.2f}s after zeroconf stopped")
            p.stop()
        finally:
            if peer:
                peer.stop()


if __name__ == "__main__":
    main(run, "portico and python-zeroconf discover each other")
