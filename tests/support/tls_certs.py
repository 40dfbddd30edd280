"""Test PKI for the TLS e2e tests, made with the openssl command line into a
temp dir at test time (nothing committed): a CA, server certificates with
subjectAltName DNS names (ECDSA P-256 or RSA), client certificates, an
expired certificate. Also an s_client wrapper and a TLS HTTP origin."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess

from portico_harness import TestFailure
from http_origin import HttpOrigin


def _run(args: list[str], cwd: str) -> None:
    p = subprocess.run(args, cwd=cwd, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise TestFailure(f"`{' '.join(args)}` failed: {p.stderr.decode(errors='replace')}")


class Pki:
    """Files live in `dir`; every method returns absolute paths."""

    def __init__(self, dir: str, name: str = "ca", cn: str = "Portico Test CA") -> None:
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.name = name
        self.ca_key = os.path.join(dir, f"{name}.key")
        self.ca = os.path.join(dir, f"{name}.pem")
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", self.ca_key, "-out", self.ca, "-days", "3", "-subj", f"/CN={cn}",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
             dir)

    def issue(self, stem: str, subject: str, dns: list[str] | None = None, rsa: bool = False,
              days: int = 2, client: bool = False, ips: list[str] | None = None) -> tuple[str, str]:
        """Returns (cert, key) paths; `days` < 0 gives an expired certificate."""
        key = os.path.join(self.dir, f"{stem}.key")
        csr = os.path.join(self.dir, f"{stem}.csr")
        cert = os.path.join(self.dir, f"{stem}.pem")
        ext = os.path.join(self.dir, f"{stem}.ext")
        newkey = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        _run(["openssl", "req", *newkey, "-nodes", "-keyout", key, "-out", csr, "-subj", subject], self.dir)
        lines = ["basicConstraints=CA:FALSE",
                 f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}"]
        alt = [f"DNS:{d}" for d in (dns or [])] + [f"IP:{i}" for i in (ips or [])]
        if alt:
            lines.append("subjectAltName=" + ",".join(alt))
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
              "-out", cert, "-days", str(days), "-extfile", ext], self.dir)
        return cert, key

    def ocsp_response(self, cert: str, out: str, revoked: bool = False) -> str:
        """A DER OCSP response for `cert` signed by this CA (openssl ocsp as a
        responder over an index file: good, or revoked); returns `out`."""
        def field(flag: str) -> str:
            p = subprocess.run(["openssl", "x509", "-noout", flag, "-in", cert], capture_output=True, text=True,
                               timeout=10)
            return p.stdout.strip().split("=", 1)[1]
        serial = field("-serial")
        subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "compat", "-in", cert],
                                 capture_output=True, text=True, timeout=10).stdout.strip().split("=", 1)[1]
        stem = os.path.splitext(out)[0]
        index = stem + ".index"
        with open(index, "w") as f:
            # status, expiry, revocation time, serial, file name, subject
            f.write(f"{'R' if revoked else 'V'}\t491231235959Z\t{'240101000000Z' if revoked else ''}"
                    f"\t{serial}\tunknown\t{subject}\n")
        req = stem + ".req"
        _run(["openssl", "ocsp", "-issuer", self.ca, "-cert", cert, "-no_nonce", "-reqout", req], self.dir)
        _run(["openssl", "ocsp", "-index", index, "-rsigner", self.ca, "-rkey", self.ca_key, "-CA", self.ca,
              "-reqin", req, "-respout", out, "-ndays", "1"], self.dir)
        return out


def subject_of(pem_text: str) -> str:
    """The subject line of the first certificate in s_client -showcerts output."""
    p = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem_text.encode(), capture_output=True,
                       timeout=10)
    return p.stdout.decode().strip()


def s_client(port: int, args: list[str], request: bytes = b"", timeout: float = 10.0,
             ign_eof: bool = True) -> tuple[int, str]:
    """Runs openssl s_client against 127.0.0.1:port; returns (exit code, stdout+stderr).
    With ign_eof it reads until the server closes."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *(["-ign_eof"] if ign_eof else []), *args]
    try:
        p = subprocess.run(cmd, input=request, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"`{' '.join(cmd)}` hung")
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def peer_subject(out: str) -> str:
    """The server certificate's subject as s_client prints it ("subject=CN = ...")."""
    for line in out.splitlines():
        if line.startswith("subject="):
            return line[len("subject="):].strip()
    return ""


class TlsHttpOrigin(HttpOrigin):
    """HttpOrigin behind TLS (python ssl, server side): cert/key, and with
    `client_ca` a client certificate is required. Records the client
    certificate subjects it saw and failed handshakes."""

    def __init__(self, cert: str, key: str, client_ca: str | None = None, **kw) -> None:
        super().__init__(**kw)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if client_ca:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(client_ca)
        self.client_subjects: list[str] = []
        self.handshake_failures = 0
        self.handshake_errors: list[str] = []
        self.resumed = 0

    def handle(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(10)
        try:
            tconn = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.handshake_failures += 1
                self.handshake_errors.append(str(e))
            return
        peer = tconn.getpeercert()
        with self.lock:
            if tconn.session_reused:
                self.resumed += 1
            if peer:
                self.client_subjects.append(
                    ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn))
        super().handle(tconn, index)


class TlsHttpClient:
    """HttpClient over TLS (python ssl): keep-alive requests on one connection."""

    def __init__(self, port: int, ca: str, server_name: str | None, timeout: float = 10.0,
                 cert: tuple[str, str] | None = None) -> None:
        from http_origin import ConnReader
        ctx = ssl.create_default_context(cafile=ca)
        if server_name is None:
            ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(*cert)
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_name)
        self.sock.settimeout(timeout)
        self.reader = ConnReader(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, host: str = "example.test",
                headers: list[tuple[str, str]] = (), body: bytes | None = None):
        from http_origin import build_request, read_response
        self.send(build_request(method, target, host, headers, body))
        resp = read_response(self.reader, method)
        if resp is None:
            raise TestFailure(f"{method} {target}: connection closed without a response")
        return resp

    def subject(self) -> str:
        """The server certificate's subject CN."""
        der = self.sock.getpeercert(binary_form=True)
        p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                           capture_output=True, timeout=10)
        return p.stdout.decode().strip()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "TlsHttpClient":
        return self

    def __exit__(self, *a) -> None:
        self.close()
