#!/usr/bin/env python3
"""1xx interim responses from the origin (RFC 9110 15.2): a 103 Early Hints
(and a 102) reaches an HTTP/1.1 client before the final response, in order,
with its Link fields and without hop-by-hop ones (curl sees it too); an
HTTP/1.0 client gets only the final response; an origin's 100 Continue is
dropped (portico answers Expect itself); a 103 followed by the origin's close
still ends in a 502, and the connection after a forwarded 103 keeps serving."""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, check, main  # noqa: E402
from http_origin import HttpOrigin, http_config, parse_head, read_to_eof  # noqa: E402
import socket  # noqa: E402

HINTS = (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
         b"Connection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n")
FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: 1\r\n\r\nok"


def raw_target(response: bytes) -> str:
    return "/raw?r=" + base64.urlsafe_b64encode(response).decode()


def heads(data: bytes) -> tuple[list[tuple[int, list[tuple[str, str]]]], bytes]:
    """The response heads in data, in order, and what follows the last one."""
    out = []
    while data.startswith(b"HTTP/1."):
        i = data.find(b"\r\n\r\n")
        if i < 0:
            break
        start, headers = parse_head(data[: i + 4])
        out.append((int(start.split(" ")[1]), [(k.lower(), v) for k, v in headers]))
        data = data[i + 4:]
        if not 100 <= out[-1][0] < 200:
            break
    return out, data


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    port = t.port()
    cfg = http_config(
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ cluster: app }}''',
        clusters=f'  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}')
    t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])

    def exchange(target: str, version: str = "1.1", keep: bool = False) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            conn = "keep-alive" if keep else "close"
            s.sendall(f"GET {target} HTTP/{version}\r\nHost: x\r\nConnection: {conn}\r\n\r\n".encode())
            if keep:
                s.sendall(b"GET /echo?after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, how = read_to_eof(s)
            check(how == "eof", f"{target[:40]} over HTTP/{version}: ended with {how}")
            return data

    # 103 then 200: both, in order; the 103 keeps Link, loses hop-by-hop fields.
    got, rest = heads(exchange(raw_target(HINTS + FINAL)))
    check([st for st, _ in got] == [103, 200], f"103 + 200: statuses {[st for st, _ in got]}")
    if len(got) == 2:
        h103 = dict(got[0][1])
        check(h103.get("link") == "</style.css>; rel=preload; as=style", f"103 Link: {got[0][1]}")
        check(not {"x-hop", "connection", "keep-alive"} & set(h103), f"hop-by-hop fields in the 103: {got[0][1]}")
        check(dict(got[1][1]).get("x-final") == "1" and rest == b"ok", f"final after 103: {got[1][1]} {rest!r}")

    # Two interim responses, then the final one; and the connection goes on.
    processing = b"HTTP/1.1 102 Processing\r\n\r\n"
    data = exchange(raw_target(processing + HINTS + FINAL), keep=True)
    got, rest = heads(data)
    check([st for st, _ in got] == [102, 103, 200] and rest.startswith(b"ok"),
          f"102 + 103 + 200: {[st for st, _ in got]} {rest[:20]!r}")
    got2, _ = heads(rest[2:])
    check([st for st, _ in got2] == [200], f"request after the interim responses: {[st for st, _ in got2]}")

    # HTTP/1.0 knows no 1xx: the client gets the final response only.
    got, rest = heads(exchange(raw_target(HINTS + FINAL), version="1.0"))
    check([st for st, _ in got] == [200] and rest == b"ok", f"HTTP/1.0 client: {[st for st, _ in got]} {rest!r}")

    # The origin's own 100 Continue is not passed on.
    got, rest = heads(exchange(raw_target(b"HTTP/1.1 100 Continue\r\n\r\n" + FINAL)))
    check([st for st, _ in got] == [200] and rest == b"ok", f"origin 100: {[st for st, _ in got]} {rest!r}")

    # A 103, then the origin closes: the client still gets a final answer.
    got, rest = heads(exchange(raw_target(HINTS)))
    check([st for st, _ in got] == [103, 502], f"103 then close: {[st for st, _ in got]}")

    # A real client: curl shows the 103 block before the 200.
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", "--noproxy", "*",
                        f"http://127.0.0.1:{port}{raw_target(HINTS + FINAL)}"], capture_output=True, timeout=20)
    out = p.stdout.decode("latin-1")
    check(p.returncode == 0 and out.startswith("HTTP/1.1 103") and "rel=preload" in out
          and "HTTP/1.1 200" in out and out.endswith("ok"), f"curl: rc {p.returncode}, {out[:200]!r}")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
