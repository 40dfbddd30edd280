#!/usr/bin/env python3
"""Interop with Avahi: portico in namespace A, avahi-daemon in namespace B.

avahi-daemon runs with its own config, its own private dbus-daemon (DBUS_SYSTEM_BUS_ADDRESS
on a socket in a private /run), `--no-drop-root --no-chroot`, in its own mount namespace
(`unshare -m`) with a tmpfs over /run (holding /run/dbus and /run/avahi-daemon) and over
/etc/avahi/services, so nothing of the host's is touched or seen. Asserts:
  1. avahi-browse resolves portico's service (name, host, IPv4 address, port, TXT);
  2. avahi-resolve finds portico's host name (IPv4 and IPv6 link-local address);
  3. portico finds a service avahi-publish announces (host, port, addresses, TXT), and
     drops it within 2 s when avahi-publish stops (Avahi's goodbye);
  4. avahi-publish of portico's own service name hits a collision and Avahi renames its
     service ("Alpha web #2"), while portico keeps its name.
Not covered: reverse lookups (avahi-resolve -a): portico publishes no reverse PTR records.
Skipped (77) when avahi-daemon, avahi-utils or dbus-daemon is not installed."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mdns_support import (Helper, NetnsPair, NsPortico, TestContext, TestFailure, TestSkip,  # noqa: E402
                          check, log, mdns_config, run_cmd)
from portico_harness import main  # noqa: E402

BUS = "unix:path=/run/dbus/system_bus_socket"

DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

AVAHI_CONF = """[server]
host-name=avahipeer
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces={ifname}
enable-dbus=yes
disallow-other-stacks=no
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=yes
"""

# Runs in namespace B's new mount namespace: private /run, then dbus-daemon, then avahi
# (exec: the helper's pid is avahi-daemon's, which nsenter uses to reach this namespace).
RUN_SH = """set -e
mount -t tmpfs -o size=4m,mode=0755 tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
mount -t tmpfs -o size=1m tmpfs /etc/avahi/services
dbus-daemon --config-file={dir}/dbus.conf --nofork --nopidfile &
i=0
while [ ! -S /run/dbus/system_bus_socket ]; do
  i=$((i+1)); if [ $i -gt 200 ]; then echo "dbus-daemon did not start" >&2; exit 1; fi
  sleep 0.05
done
exec avahi-daemon -f {dir}/avahi.conf --no-drop-root --no-chroot --no-rlimits
"""


def run(t: TestContext) -> None:
    for tool in ("avahi-daemon", "avahi-browse", "avahi-resolve", "avahi-publish", "dbus-daemon",
                 "unshare", "nsenter"):
        if shutil.which(tool) is None:
            raise TestSkip(f"{tool} is not installed (scripts/setup test)")
    helpers: list[Helper] = []
    with NetnsPair() as pair:
        try:
            d = t.tmpdir
            with open(os.path.join(d, "dbus.conf"), "w") as f:
                f.write(DBUS_CONF)
            with open(os.path.join(d, "avahi.conf"), "w") as f:
                f.write(AVAHI_CONF.format(ifname=pair.ifname[1]))
            with open(os.path.join(d, "run.sh"), "w") as f:
                f.write(RUN_SH.format(dir=d))
            env = {"DBUS_SYSTEM_BUS_ADDRESS": BUS}
            avahi = Helper(t, "avahi", pair.exec_prefix(1) + ["unshare", "-m", "--propagation", "private",
                                                               "sh", os.path.join(d, "run.sh")], env=env)
            helpers.append(avahi)
            avahi.wait_output(r"Server startup complete", timeout=15, what="avahi start-up", which="both")
            enter = ["nsenter", "-t", str(avahi.proc.pid), "-m", "-n"]

            def tool(args: list[str], timeout: float = 10.0):
                return run_cmd(enter + args, timeout=timeout, check_rc=False)

            p = NsPortico(t, pair, 0, mdns_config(
                "alpha", services='[ { name: "Alpha web", type: _http._tcp, port: 8080, txt: { path: "/a" } } ]'),
                name="alpha")
            p.start()
            p.wait_started(t.backend)
            p.wait_log(r'mdns: established host=alpha\.local', timeout=10)

            # 1. avahi-browse resolves portico's service.
            want = (f'=;{pair.ifname[1]};IPv4;Alpha\\032web;_http._tcp;local;alpha.local;'
                    f'{pair.ipv4[0]};8080;"path=/a"')
            deadline = time.monotonic() + 15
            while True:
                r = tool(["avahi-browse", "-r", "-t", "-p", "-k", "_http._tcp"], timeout=12)
                lines = r.stdout.splitlines()
                if want in lines and any(l.startswith(f"=;{pair.ifname[1]};IPv6;Alpha\\032web;") for l in lines):
                    break
                if time.monotonic() > deadline:
                    raise TestFailure(f"avahi-browse did not resolve portico's service; want {want!r}\n"
                                      f"got:\n{r.stdout}\n{r.stderr}")
                time.sleep(0.5)
            log("avahi-browse resolved 'Alpha web' over IPv4 and IPv6")

            # 2. avahi-resolve finds the host name, both families.
            r4 = tool(["avahi-resolve", "-4", "-n", "alpha.local"])
            check(r4.stdout.split() == ["alpha.local", pair.ipv4[0]], f"avahi-resolve -4: {r4.stdout!r} {r4.stderr!r}")
            r6 = tool(["avahi-resolve", "-6", "-n", "alpha.local"])
            check(r6.stdout.split() == ["alpha.local", pair.ipv6[0]], f"avahi-resolve -6: {r6.stdout!r} {r6.stderr!r}")
            log(f"avahi-resolve: {r4.stdout.strip()!r}, {r6.stdout.strip()!r}")

            # 3. portico finds what avahi-publish announces, and its goodbye.
            pub = Helper(t, "avahi-publish", enter + ["avahi-publish", "-s", "Avahi svc", "_http._tcp", "1234",
                                                      "k=v", "flag"], env=env)
            helpers.append(pub)
            got = p.wait_added("Avahi svc", timeout=10)
            log(f"portico saw {got}")
            check(got["host"] == "avahipeer.local" and got["port"] == "1234", f"avahi service: {got}")
            check(got["addresses"] == f"{pair.ipv4[1]},{pair.ipv6[1]}", f"avahi service addresses: {got}")
            check(got["txt"] == "k=v flag", f"avahi service TXT: {got['txt']!r}")
            off = p.log_offset()
            t0 = time.monotonic()
            pub.stop()
            p.wait_removed("Avahi svc", timeout=2.0, start=off)
            log(f"removed {time.monotonic() - t0:.2f}s after avahi-publish stopped")

            # 4. Avahi defers to portico's established name.
            clash = Helper(t, "avahi-publish-clash", enter + ["avahi-publish", "-s", "Alpha web", "_http._tcp",
                                                              "9999"], env=env)
            helpers.append(clash)
            clash.wait_output(r"Established under name 'Alpha web #2'", timeout=10, what="Avahi's rename",
                              which="both")
            p.wait_added("Alpha web #2", timeout=10)
            check(not p.mdns_lines("renamed"), f"portico renamed: {p.mdns_lines('renamed')}")
            clash.stop()
            p.stop()
        finally:
            for h in reversed(helpers):  # before the namespaces go
                h.stop()


if __name__ == "__main__":
    main(run, "portico and avahi-daemon discover each other")
