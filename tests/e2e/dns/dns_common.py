"""Shared pieces of the dns e2e tests: a config with a `dns:` section and the
start-up wait for its UDP and TCP sockets."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, Portico, TestContext  # noqa: E402


def dns_config(port: int, upstreams: list[str], dns_extra: str = "", workers: int = 1,
               log_level: str = "info", host: str = "127.0.0.1") -> str:
    """A complete config: only the DNS server on host:port (UDP and TCP).
    `dns_extra`: more keys of the dns section, each line indented by 2 spaces.
    One worker by default: each worker has its own cache shard."""
    ups = ", ".join(f'"{u}"' for u in upstreams)
    return (f"workers: {workers}\n"
            f"event_loop: auto\n"
            f"drain_timeout: 5s\n"
            f"log: {{ level: {log_level} }}\n"
            f"admin: {{ bind: null }}\n"
            f"dns:\n"
            f'  listen: ["{host}:{port}"]\n'
            f"  upstreams: [{ups}]\n"
            f"{dns_extra}")


def start_dns(t: TestContext, config: str, port: int, host: str = "127.0.0.1", name: str = "portico") -> Portico:
    return t.start_portico(config, [ListenerSpec(host, port, "udp"), ListenerSpec(host, port, "tcp")], name=name)
