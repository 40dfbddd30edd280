#!/usr/bin/python3
"""A second, independent mDNS peer for the e2e tests: Debian's python3-zeroconf (run with
/usr/bin/python3, outside the test's own interpreter). Publishes one service, browses one
type and prints one line per event on stdout (flushed):
    ready
    resolved name=<full name> server=<host.> port=<p> addresses=<a,b> txt=<k=v,...>
    removed name=<full name>
Runs until SIGTERM/SIGINT, then unregisters (goodbye packets) and exits 0."""
import argparse
import signal
import socket
import sys
import threading

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True, help="IPv4 address to use and publish")
    ap.add_argument("--name", required=True)
    ap.add_argument("--host", required=True, help="host name without .local")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--type", default="_http._tcp.local.")
    args = ap.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out_lock = threading.Lock()

    def say(line: str) -> None:
        with out_lock:
            print(line, flush=True)

    zc = Zeroconf(interfaces=[args.address], ip_version=IPVersion.V4Only)
    info = ServiceInfo(args.type, f"{args.name}.{args.type}", port=args.port,
                       addresses=[socket.inet_aton(args.address)], properties={"z": "1"},
                       server=f"{args.host}.local.")
    zc.register_service(info)

    def on_change(zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Removed:
            say(f"removed name={name}")
            return
        i = zeroconf.get_service_info(service_type, name, timeout=3000)
        if i is None:
            say(f"unresolved name={name}")
            return
        txt = ",".join(f"{k.decode()}={(v or b'').decode()}" for k, v in sorted(i.properties.items()))
        say(f"resolved name={name} server={i.server} port={i.port} "
            f"addresses={','.join(i.parsed_addresses())} txt={txt}")

    browser = ServiceBrowser(zc, args.type, handlers=[on_change])
    say("ready")
    stop.wait(120)  # bounded: the test stops it long before
    browser.cancel()
    zc.unregister_all_services()
    zc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
