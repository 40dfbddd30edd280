#!/usr/bin/env python3
"""mDNS goodbyes: when a portico stops publishing, the other portico's browser drops the
instance at once (RFC 6762 10.1: TTL 0, removed one second later), not after the TTL.
  1. reload of beta without its `mdns:` section -> alpha logs `mdns: removed` within 2 s;
  2. reload of beta with it again -> alpha logs `mdns: added` again;
  3. SIGTERM to beta (drain) -> alpha logs `mdns: removed` within 2 s; beta exits 0."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import NetnsPair, NsPortico, TestContext, check, mdns_config, log  # noqa: E402
from portico_harness import main  # noqa: E402

BETA = mdns_config("beta", services='[ { name: "Beta web", type: _http._tcp, port: 8081 } ]')
BETA_OFF = BETA.split("mdns:\n")[0]


def run(t: TestContext) -> None:
    with NetnsPair() as pair:
        a = NsPortico(t, pair, 0, mdns_config("alpha"), name="alpha")
        b = NsPortico(t, pair, 1, BETA, name="beta")
        a.start()
        b.start()
        a.wait_started(t.backend)
        b.wait_started(t.backend)
        a.wait_added("Beta web", timeout=10)
        b.wait_log(r'mdns: established host=beta\.local services="Beta web"', timeout=5)

        # 1. mdns removed from beta's config: goodbyes.
        off = a.log_offset()
        t0 = time.monotonic()
        status, text = b.reload(BETA_OFF)
        check(status == "ok", f"reload without mdns failed: {text}")
        check("mdns: stopped (goodbyes sent)" in b.stderr_text(), "beta did not log 'mdns: stopped'")
        a.wait_removed("Beta web", timeout=2.0, start=off)
        log(f"removed after reload in {time.monotonic() - t0:.2f}s")

        # 2. mdns back: announced again.
        off = a.log_offset()
        status, text = b.reload(BETA)
        check(status == "ok", f"reload with mdns failed: {text}")
        a.wait_added("Beta web", timeout=10, start=off)

        # 3. drain: goodbyes before exit.
        off = a.log_offset()
        t0 = time.monotonic()
        b.stop(signal.SIGTERM)
        a.wait_removed("Beta web", timeout=max(0.1, 2.0 - (time.monotonic() - t0)), start=off)
        log(f"removed after SIGTERM in {time.monotonic() - t0:.2f}s")
        a.stop()


if __name__ == "__main__":
    main(run, "goodbyes on reload and on drain remove the instance from the peer's browser")
