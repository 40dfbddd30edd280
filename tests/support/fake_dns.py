"""DNS test tools (stdlib only): a scriptable upstream DNS server, a minimal
wire-format encoder/decoder, and a `dig` wrapper.

FakeDns is the upstream portico forwards to in the dns e2e tests. It listens on
UDP and TCP on the same loopback port, answers from a table the test fills,
and records every query (name, type, transport) so tests can assert what was
forwarded. Knobs: `down` (drop every query, to simulate an unreachable
upstream), `tc_names` (answer those over UDP with TC set and no records, to
force a TCP retry), `udp_limit` (bytes: a UDP answer longer than that keeps
only the records that fit and sets TC, as a real server does at 512 without
EDNS; TCP answers stay whole).

    up = t.add(FakeDns())
    up.set("www.example.test", "A", ["192.0.2.1"], ttl=300)
    up.set_nxdomain("nope.example.test", soa_ttl=60)
    r = dig(port, "www.example.test")
    check(r.status == "NOERROR" and r.rdatas("A") == ["192.0.2.1"], ...)
    check(up.count("www.example.test", "A") == 1, ...)
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "OPT": 41, "ANY": 255, "AXFR": 252}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


# ------------------------------------------------------------ wire format --

def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def decode_name(msg: bytes, off: int, depth: int = 0) -> tuple[str, int]:
    """(name, offset after the name); follows compression pointers (bounded)."""
    labels = []
    end = None
    for _ in range(128):
        if off >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg) or depth > 16:
                raise ValueError("bad compression pointer")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            depth += 1
            continue
        if n == 0:
            return ".".join(labels) + ".", (end if end is not None else off + 1)
        labels.append(msg[off + 1:off + 1 + n].decode(errors="replace"))
        off += 1 + n
    raise ValueError("name too long")


def rdata_of(qtype: str, value: str) -> bytes:
    if qtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if qtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if qtype == "TXT":
        data = value.encode()
        return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, max(len(data), 1), 255))
    if qtype in ("CNAME", "NS", "PTR"):
        return encode_name(value)
    if qtype == "SRV":  # "priority weight port target"
        prio, weight, port, target = value.split()
        return struct.pack("!HHH", int(prio), int(weight), int(port)) + encode_name(target)
    raise ValueError(f"fake_dns: no rdata encoder for {qtype}")


def soa_rdata(zone: str, serial: int = 1, minimum: int = 60) -> bytes:
    return (encode_name("ns1." + zone) + encode_name("hostmaster." + zone)
            + struct.pack("!IIIII", serial, 3600, 600, 86400, minimum))


def build_query(name: str, qtype: str | int = "A", qid: int = 0x1234, rd: bool = True,
                edns: int | None = None, flags: int | None = None) -> bytes:
    """A standard query; `edns` adds an OPT record with that UDP size."""
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    fl = flags if flags is not None else (0x0100 if rd else 0)
    msg = struct.pack("!HHHHHH", qid, fl, 1, 0, 0, 1 if edns else 0)
    msg += encode_name(name) + struct.pack("!HH", t, 1)
    if edns:
        msg += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return msg


@dataclass
class Message:
    id: int
    flags: int
    rcode: int
    qname: str
    qtype: int
    answers: list = field(default_factory=list)    # (name, type, ttl, rdata bytes)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)

    @property
    def qr(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def aa(self) -> bool:
        return bool(self.flags & 0x0400)

    @property
    def tc(self) -> bool:
        return bool(self.flags & 0x0200)

    @property
    def status(self) -> str:
        return RCODES.get(self.rcode, str(self.rcode))


def parse_message(msg: bytes) -> Message:
    """Header, first question and the records of a DNS message (ValueError if garbled)."""
    if len(msg) < 12:
        raise ValueError("shorter than a header")
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    qname, qtype = "", 0
    for i in range(qd):
        name, off = decode_name(msg, off)
        t, _ = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        if i == 0:
            qname, qtype = name, t
    sections = []
    for count in (an, ns, ar):
        recs = []
        for _ in range(count):
            name, off = decode_name(msg, off)
            t, _cls, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            recs.append((name, t, ttl, msg[off:off + rdlen]))
            off += rdlen
        sections.append(recs)
    return Message(qid, flags, flags & 0xF, qname, qtype, *sections)


# ---------------------------------------------------------------- server --

class FakeDns:
    """Upstream DNS server on 127.0.0.1 (UDP and TCP, same port). Thread-safe."""

    def __init__(self, host: str = "127.0.0.1", name: str = "fake-dns") -> None:
        self.name = name
        self.host = host
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(50):
            self.udp = socket.socket(fam, socket.SOCK_DGRAM)
            self.udp.bind((host, 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(fam, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise RuntimeError("fake_dns: no port free for both UDP and TCP")
        self.tcp.listen(64)
        self.endpoint = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.lock = threading.Lock()
        self.records: dict[tuple[str, int], list[tuple[int, int, bytes]]] = {}
        self.nxdomain: dict[str, tuple[str, int, int]] = {}  # name -> (zone, soa ttl, minimum)
        self.tc_names: set[str] = set()
        self.tcp_tc_names: set[str] = set()     # truncated over TCP too (a broken upstream)
        self.tcp_close_names: set[str] = set()  # TCP: the connection closes without a reply
        self.empty_first: set[str] = set()      # UDP: an empty datagram, then the reply 100 ms later
        self.udp_limit: int | None = None
        self.truncated = 0  # UDP answers sent with TC because of udp_limit
        self.down = False
        self.queries: list[tuple[str, int, str]] = []  # (name, qtype, "udp"|"tcp")
        self.tcp_connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _key(name: str) -> str:
        return name.lower().rstrip(".") + "."

    def set(self, name: str, qtype: str, values: list[str], ttl: int = 300) -> None:
        """Answers for (name, type); replaces earlier ones."""
        t = TYPES[qtype]
        with self.lock:
            self.records[(self._key(name), t)] = [(t, ttl, rdata_of(qtype, v)) for v in values]
            self.nxdomain.pop(self._key(name), None)

    def set_nxdomain(self, name: str, zone: str = "example.test", soa_ttl: int = 60,
                     minimum: int = 60) -> None:
        with self.lock:
            self.nxdomain[self._key(name)] = (zone, soa_ttl, minimum)

    def count(self, name: str | None = None, qtype: str | None = None,
              transport: str | None = None) -> int:
        with self.lock:
            return sum(1 for n, t, tr in self.queries
                       if (name is None or n == self._key(name))
                       and (qtype is None or t == TYPES[qtype])
                       and (transport is None or tr == transport))

    def wait_count(self, n: int, timeout: float, **kw) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.count(**kw)
            if c >= n:
                return c
            time.sleep(0.02)
        return self.count(**kw)

    def start(self) -> "FakeDns":
        for target in (self._udp_loop, self._tcp_loop):
            t = threading.Thread(target=target, daemon=True, name=self.name)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        self.udp.close()
        self.tcp.close()

    def answer(self, query: bytes, transport: str) -> bytes | None:
        try:
            q = parse_message(query)
        except (ValueError, struct.error):
            return None
        name = self._key(q.qname)
        with self.lock:
            self.queries.append((name, q.qtype, transport))
            if self.down:
                return None
            recs = list(self.records.get((name, q.qtype), []))
            nx = self.nxdomain.get(name)
            tc = (transport == "udp" and name in self.tc_names) or (transport == "tcp" and name in self.tcp_tc_names)
            limit = self.udp_limit if transport == "udp" else None
        # header: QR, RD copied, RA; the question as asked (first question only)
        qd_end = 12
        _, qd_end = decode_name(query, 12)
        question = query[12:qd_end + 4]
        flags = 0x8000 | (q.flags & 0x0100) | 0x0080
        rcode = 0
        answers: list[tuple[bytes, int, int, bytes]] = []
        authority: list[tuple[bytes, int, int, bytes]] = []
        if tc:
            flags |= 0x0200
        elif recs:
            answers = [(b"\xc0\x0c", t, ttl, rd) for t, ttl, rd in recs]
        elif nx:
            rcode = 3
            zone, soa_ttl, minimum = nx
            authority = [(encode_name(zone), 6, soa_ttl, soa_rdata(zone, minimum=minimum))]
        def render(answers: list, flags: int) -> bytes:
            out = struct.pack("!HHHHHH", q.id, flags | rcode, 1, len(answers), len(authority), 0) + question
            for owner, t, ttl, rd in answers + authority:
                out += owner + struct.pack("!HHIH", t, 1, ttl, len(rd)) + rd
            return out

        out = render(answers, flags)
        if limit is not None and len(out) > limit:
            flags |= 0x0200
            while answers and len(render(answers, flags)) > limit:
                answers = answers[:-1]
            out = render(answers, flags)
            with self.lock:
                self.truncated += 1
        return out

    def _udp_loop(self) -> None:
        self.udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, src = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(data, "udp")
            if reply is not None:
                try:
                    if self._in(data, self.empty_first):
                        self.udp.sendto(b"", src)
                        time.sleep(0.1)
                    self.udp.sendto(reply, src)
                except OSError:
                    pass

    def _in(self, query: bytes, names: set[str]) -> bool:
        try:
            name = self._key(parse_message(query).qname)
        except (ValueError, struct.error):
            return False
        with self.lock:
            return name in names

    def _tcp_loop(self) -> None:
        self.tcp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.tcp_connections += 1
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            while not self._stop.is_set():
                hdr = _recv_exact(conn, 2)
                if not hdr:
                    return
                data = _recv_exact(conn, struct.unpack("!H", hdr)[0])
                if data is None:
                    return
                reply = self.answer(data, "tcp")
                if self._in(data, self.tcp_close_names):
                    return  # closes without a reply
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass
        finally:
            conn.close()


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            return None
        out += b
    return out


# ------------------------------------------------------------ TCP client --

def tcp_exchange(addr: tuple, queries: list[bytes], timeout: float = 5.0) -> list[Message]:
    """Sends every query on one TCP connection in a single write (pipelined) and
    reads as many length-prefixed replies; returns them parsed, in arrival order."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(b"".join(struct.pack("!H", len(q)) + q for q in queries))
        out = []
        for _ in queries:
            hdr = _recv_exact(s, 2)
            if hdr is None:
                raise ConnectionError(f"connection closed after {len(out)} of {len(queries)} replies")
            body = _recv_exact(s, struct.unpack("!H", hdr)[0])
            if body is None:
                raise ConnectionError("connection closed inside a reply")
            out.append(parse_message(body))
        return out


def udp_exchange(addr: tuple, query: bytes, timeout: float = 2.0, source: str | None = None) -> Message | None:
    """One query over UDP; the parsed reply, or None on timeout."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(query, addr)
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            return None
        return parse_message(data)


# ------------------------------------------------------------------- dig --

@dataclass
class DigResult:
    status: str                      # NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... or "timeout"
    flags: set = field(default_factory=set)
    answer: list = field(default_factory=list)     # (name, ttl, type, rdata)
    authority: list = field(default_factory=list)
    output: str = ""
    messages: int = 0                # how many replies the output holds (several queries)

    def rdatas(self, qtype: str) -> list[str]:
        return [r[3] for r in self.answer if r[2] == qtype]

    def ttls(self, qtype: str) -> list[int]:
        return [r[1] for r in self.answer if r[2] == qtype]


_HEADER = re.compile(r"->>HEADER<<- opcode: (\w+), status: (\w+), id: (\d+)")
_FLAGS = re.compile(r";; flags:([^;]*);")
_RR = re.compile(r"^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$")


def parse_dig(output: str) -> list[DigResult]:
    """One DigResult per reply in dig's output (+noall +comments +answer +authority)."""
    results: list[DigResult] = []
    section = None
    for line in output.splitlines():
        m = _HEADER.search(line)
        if m:
            results.append(DigResult(status=m.group(2)))
            section = None
            continue
        if not results:
            continue
        r = results[-1]
        m = _FLAGS.search(line)
        if m:
            r.flags = set(m.group(1).split())
            continue
        if line.startswith(";; ANSWER SECTION"):
            section = r.answer
            continue
        if line.startswith(";; AUTHORITY SECTION"):
            section = r.authority
            continue
        if line.startswith(";;"):
            section = None
            continue
        m = _RR.match(line.strip())
        if m and section is not None:
            section.append((m.group(1), int(m.group(2)), m.group(3), m.group(4)))
    return results


def dig(port: int, name: str, qtype: str = "A", server: str = "127.0.0.1", tcp: bool = False,
        source: str | None = None, extra: list[str] | None = None, timeout: int = 2,
        tries: int = 1) -> DigResult:
    """Runs dig against portico; "timeout" status when no reply came."""
    cmd = ["dig", f"@{server}", "-p", str(port), name, qtype, "+noall", "+comments", "+answer",
           "+authority", f"+time={timeout}", f"+tries={tries}", "+nocookie"]
    if tcp:
        cmd.append("+tcp")
    if source:
        cmd += ["-b", source]
    cmd += extra or []
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * tries + 10)
    results = parse_dig(p.stdout)
    if not results:
        return DigResult(status="timeout", output=p.stdout + p.stderr)
    r = results[0]
    r.output = p.stdout + p.stderr
    r.messages = len(results)
    return r


def dig_many(port: int, questions: list[tuple[str, str]], server: str = "127.0.0.1",
             extra: list[str] | None = None, timeout: int = 2) -> tuple[list[DigResult], str]:
    """Several questions in one dig run (with +tcp +keepopen: one connection)."""
    cmd = ["dig", f"@{server}", "-p", str(port), "+noall", "+comments", "+answer", "+authority",
           f"+time={timeout}", "+tries=1", "+nocookie"] + (extra or [])
    for name, qtype in questions:
        cmd += [name, qtype]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * len(questions) + 10)
    return parse_dig(p.stdout), p.stdout + p.stderr
