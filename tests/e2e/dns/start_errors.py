#!/usr/bin/env python3
"""Start-up errors of the DNS server are reported clearly and portico exits 1:
a dns.listen address already in use (names the address and protocol), a zone
file that does not load (names the file). `portico -t` accepts a dns section."""
import os
import socket

from dns_common import dns_config
from portico_harness import TestContext, check, log, main, run_portico_cmd


def run(t: TestContext) -> None:
    # 1. address in use (a UDP socket without SO_REUSEPORT holds the port)
    port = t.port("both")
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", port))
    try:
        p = t.portico_process(dns_config(port, ["127.0.0.1:53"]), name="busy")
        p.start()
        rc = p.wait_exit(10)
        err = p.stderr_text()
        check(rc == 1, f"address in use: exit code {rc}\n{err[-1500:]}")
        want = f"dns.listen 127.0.0.1:{port} (udp): bind: Address already in use"
        check(want in err, f"address in use: expected '{want}' in stderr:\n{err[-1500:]}")
        log(f"address in use reported: {want}")
    finally:
        blocker.close()

    # 2. a zone file that does not load
    zone = os.path.join(t.tmpdir, "broken.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN broken.test.\n@ IN SOA ns1 hostmaster 1 2 3 4 5\nwww IN A not-an-address\n")
    port = t.port("both")
    cfg = dns_config(port, ["127.0.0.1:53"], f'  zones: [ {{ name: broken.test, file: "{zone}" }} ]\n')
    p = t.portico_process(cfg, name="badzone")
    p.start()
    rc = p.wait_exit(10)
    err = p.stderr_text()
    check(rc == 1 and "broken.zone" in err, f"bad zone: exit {rc}, stderr:\n{err[-1500:]}")
    log("bad zone file reported: " + next((l for l in err.splitlines() if "broken.zone" in l), "")[:200])

    # 3. the config check accepts the dns section
    good = t.portico_process(dns_config(t.port("both"), ["127.0.0.1:53"]), name="check")
    res = run_portico_cmd(t, ["-t", "-c", good.config_path])
    check(res.returncode == 0, f"portico -t: {res.returncode}\n{res.stdout}{res.stderr}")


if __name__ == "__main__":
    main(run, "DNS start-up errors: address in use, bad zone file")
