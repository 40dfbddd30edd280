#!/usr/bin/env python3
"""TLS on a tcp listener: portico terminates TLS and relays plaintext to a
plain TCP echo origin. 3 MiB go both ways intact (python ssl client); the
client's close_notify half-closes the upstream, whose FIN comes back as
close_notify + EOF; s_client sees the certificate chosen by SNI; random bytes
are closed promptly; a silent client is closed after timeouts.handshake."""
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import (MiB, ListenerSpec, Pattern, TcpEchoServer, TestContext, base_config, check,  # noqa: E402
                             connect_expect_close, main)
from tls_certs import Pki, peer_subject, s_client  # noqa: E402


def run(t: TestContext) -> None:
    pki = Pki(os.path.join(t.tmpdir, "pki"))
    cert, key = pki.issue("t", "/CN=tcp.example.test", ["tcp.example.test"])
    echo = t.add(TcpEchoServer())
    port = t.port()
    cfg = base_config(f"""  - name: tcps
    bind: "127.0.0.1:{port}"
    protocol: tcp
    cluster: echo
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}" }} ]
    timeouts: {{ handshake: 1s }}
""", f"""  - {{ name: echo, endpoints: [ "{echo.endpoint}" ] }}
""", log_level="debug")
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    ctx = ssl.create_default_context(cafile=pki.ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="tcp.example.test")
    s.settimeout(10)
    total = 3 * MiB
    data = Pattern(3).chunk(0, total)
    # one SSL object must not be used by two threads: lock-step 64 KiB chunks
    got = bytearray()
    chunk = 64 * 1024
    for off in range(0, total, chunk):
        s.sendall(data[off:off + chunk])
        want = min(total, off + chunk)
        while len(got) < want:
            b = s.recv(256 * 1024)
            if not b:
                break
            got += b
        if len(got) < want:
            break
    check(bytes(got) == data, f"echo through TLS: {len(got)} of {total} bytes, intact={bytes(got) == data[:len(got)]}")
    # half-close: our close_notify reaches the origin as EOF; its FIN comes back
    raw2 = s.unwrap()  # sends close_notify, waits for the peer's
    raw2.settimeout(5)
    check(raw2.recv(10) == b"", "no EOF after close_notify exchange")
    raw2.close()

    rc, out = s_client(port, ["-servername", "tcp.example.test", "-CAfile", pki.ca, "-verify_return_error"],
                       b"ping\n", ign_eof=False)
    check(peer_subject(out) == "CN = tcp.example.test" and "Verify return code: 0" in out,
          f"s_client through the tcp listener:\n{out[-800:]}")
    kind, secs = connect_expect_close(("127.0.0.1", port), 3.0, "random bytes", send=os.urandom(2000))
    check(secs < 0.8, f"random bytes: closed after {secs:.2f}s")
    kind, secs = connect_expect_close(("127.0.0.1", port), 5.0, "silent client")
    check(0.7 < secs < 3.0, f"silent client: closed after {secs:.2f}s (handshake timeout 1s)")
    check(p.alive(), "portico died")


if __name__ == "__main__":
    main(run, "TLS termination on tcp listeners", deadline=60.0)
