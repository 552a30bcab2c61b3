"""A TLS front for the fake API server, so the in-cluster path (always HTTPS) can be tested.

The real client's in-cluster loader builds `https://$KUBERNETES_SERVICE_HOST:$PORT` and trusts
only the mounted `ca.crt`; this terminates TLS with a fresh self-signed certificate for
127.0.0.1 and pipes bytes to the plain-HTTP fake.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import select
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path, *, names: tuple[str, ...] = (),
                stem: str = "tls") -> tuple[Path, Path]:
    """(certificate, key) PEM files (`<stem>.crt`, `<stem>.key`) for 127.0.0.1, or for the DNS
    `names` only when given; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names] or [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-apiserver")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Listener:
    """A loopback TCP server giving each connection it accepts to `handle`, in a thread of its
    own. Subclasses set what `handle` needs before calling `__init__`, which starts accepting."""

    def __init__(self) -> None:
        self.accepted = 0
        """TCP connections accepted so far (a pooling client opens few)."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def handle(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if not ready:
                continue
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            t = threading.Thread(target=self.handle, args=(raw,), daemon=True)
            self._threads.append(t)
            t.start()

    def close(self) -> None:
        self._stop.set()
        self._accept.join()
        self.listener.close()
        for t in self._threads:
            t.join(5)


class TLSProxy(Listener):
    """127.0.0.1:<port> speaking TLS, forwarding to 127.0.0.1:<backend> in plain TCP; with
    `client_ca`, only clients presenting a certificate that CA signed get through."""

    def __init__(self, backend_port: int, cert: Path, key: Path, *,
                 client_ca: Path | None = None) -> None:
        self.backend = backend_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        if client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(client_ca)
        self._open: set[socket.socket] = set()
        super().__init__()

    def handle(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # a client that does not trust us: the handshake fails, as it should
            return
        self._open.add(client)
        try:
            with client, socket.create_connection(("127.0.0.1", self.backend)) as upstream:
                pipe(client, upstream, self._stop)
        finally:
            self._open.discard(client)

    def hang_up(self) -> None:
        """Close every connection a client holds open, as a server does to idle ones."""
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def pipe(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways between two sockets until either side closes or `stop` is set."""
    pairs = {a: b, b: a}
    while not stop.is_set():
        ready, _, _ = select.select(list(pairs), [], [], 0.05)
        pending = [s for s in pairs if isinstance(s, ssl.SSLSocket) and s.pending()]
        for sock in set(ready) | set(pending):
            try:
                data = sock.recv(65536)
            except OSError:  # ssl.SSLError included
                return
            if not data:
                return
            pairs[sock].sendall(data)
