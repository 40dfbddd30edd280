#!/usr/bin/env python3
"""Access log (json, to a file): exactly one line per request (keep-alive and
pipelined requests included) with status, method, host, path and upstream
(the endpoint for proxied requests, empty for local ones), also for errors
(404, 400, 502). SIGUSR1 (logrotate) opens the file again."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from portico_harness import ListenerSpec, TestContext, TestFailure, check, free_port, main  # noqa: E402
from http_origin import HttpClient, HttpOrigin, build_request, http_config  # noqa: E402


def run(t: TestContext) -> None:
    origin = t.add(HttpOrigin(name="origin"))
    root = os.path.join(t.tmpdir, "www")
    os.makedirs(root)
    with open(os.path.join(root, "f.txt"), "w") as f:
        f.write("file\n")
    log_path = os.path.join(t.tmpdir, "access.log")
    dead = free_port()
    port = t.port()
    cfg = http_config(
        access_log=log_path,
        listeners=f'''  - name: web
    bind: "127.0.0.1:{port}"
    protocol: http
    routes:
      - {{ match: {{ path: "/local" }}, respond: {{ status: 201, body: "made\\n" }} }}
      - {{ match: {{ path: "/f.txt" }}, static: {{ root: "{root}" }} }}
      - {{ match: {{ path_prefix: "/down" }}, cluster: down }}
      - {{ match: {{ path_prefix: "/app/" }}, cluster: app }}''',
        clusters=f'''  - {{ name: app, endpoints: [ "{origin.endpoint}" ] }}
  - {{ name: down, endpoints: [ "127.0.0.1:{dead}" ] }}''')
    p = t.start_portico(cfg, [ListenerSpec("127.0.0.1", port)])
    expected = []  # (method, host, path, status, upstream)
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.request("GET", "/app/one?q=1", host="a.test")
        expected.append(("GET", "a.test", "/app/one", 200, origin.endpoint))
        c.request("POST", "/local", body=b"12345")
        expected.append(("POST", "example.test", "/local", 201, ""))
        c.request("GET", "/f.txt")
        expected.append(("GET", "example.test", "/f.txt", 200, ""))
        c.request("GET", "/nowhere")
        expected.append(("GET", "example.test", "/nowhere", 404, ""))
        c.request("GET", "/app/status/503")
        expected.append(("GET", "example.test", "/app/status/503", 503, origin.endpoint))
        # three pipelined requests
        c.send(b"".join(build_request("GET", f"/app/p{i}") for i in range(3)))
        for i in range(3):
            check(c.response().status == 200, f"pipelined {i}")
            expected.append(("GET", "example.test", f"/app/p{i}", 200, origin.endpoint))
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        r = c.request("GET", "/down/x")
        check(r.status == 502, f"down: {r.status}")
        expected.append(("GET", "example.test", "/down/x", 502, f"127.0.0.1:{dead}"))
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        c.send(b"GET /bad HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
        r = c.response()
        check(r.status == 400, f"bad request: {r.status}")
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        try:
            with open(log_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= len(expected) + 1:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    with open(log_path) as f:
        lines = f.read().splitlines()
    try:
        entries = [json.loads(line) for line in lines]
    except json.JSONDecodeError as e:
        raise TestFailure(f"access log line is not JSON ({e}):\n" + "\n".join(lines))
    check(len(entries) == len(expected) + 1,
          f"{len(entries)} access log lines for {len(expected) + 1} requests:\n" + "\n".join(lines))
    for i, (method, host, path, status, upstream) in enumerate(expected):
        e = entries[i]
        got = (e.get("method"), e.get("host"), e.get("path"), e.get("status"), e.get("upstream"))
        check(got == (method, host, path, status, upstream), f"line {i}: {got}, expected "
                                                             f"{(method, host, path, status, upstream)}\n{lines[i]}")
        check(e.get("listener") == "web" and e.get("client") == "127.0.0.1", f"line {i}: {lines[i]}")
        check(isinstance(e.get("bytes_out"), int) and e["bytes_out"] > 0, f"line {i}: bytes_out {e.get('bytes_out')}")
        check(isinstance(e.get("total_time"), (int, float)), f"line {i}: total_time {e.get('total_time')}")
    check(entries[0]["request_id"] == origin.reqs()[0].header("X-Request-Id"),
          f"request_id {entries[0]['request_id']} is not the one the origin got")
    check(entries[-1]["status"] == 400, f"last line should be the 400: {lines[-1]}")

    # Rotation: the file is moved away, SIGUSR1 opens the path again; lines
    # go to the new file from then on, and portico keeps running.
    rotated = log_path + ".1"
    os.rename(log_path, rotated)
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        check(c.request("GET", "/local-before").status == 404, "request before SIGUSR1")
    p.send_signal(signal.SIGUSR1)
    p.wait_log(r"reopening the access log", timeout=5)
    time.sleep(0.3)  # the workers act on the message
    with HttpClient(("127.0.0.1", port), timeout=5) as c:
        check(c.request("GET", "/local-after").status == 404, "request after SIGUSR1: portico survived it")
    deadline = time.monotonic() + 5
    new_lines: list[str] = []
    while time.monotonic() < deadline and not new_lines:
        if os.path.exists(log_path):
            with open(log_path) as f:
                new_lines = f.read().splitlines()
        time.sleep(0.1)
    with open(rotated) as f:
        old_text = f.read()
    check(len(new_lines) == 1 and json.loads(new_lines[0])["path"] == "/local-after",
          f"after SIGUSR1 the new file holds: {new_lines}")
    check("/local-before" in old_text and "/local-after" not in old_text,
          "the line before the reopen belongs in the moved file, the one after it not")


if __name__ == "__main__":
    main(run, __doc__.splitlines()[0])
