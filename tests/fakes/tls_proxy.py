"""A TLS front for the fake API server, so the in-cluster path (always HTTPS) can be tested.

The real client's in-cluster loader builds `https://$KUBERNETES_SERVICE_HOST:$PORT` and trusts
only the mounted `ca.crt`; this terminates TLS with a fresh self-signed certificate for
127.0.0.1 and pipes bytes to the plain-HTTP fake.
"""

from __future__ import annotations

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


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, the certificate being its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-apiserver")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TLSProxy:
    """127.0.0.1:<port> speaking TLS, forwarding to 127.0.0.1:<backend> in plain TCP."""

    def __init__(self, backend_port: int, cert: Path, key: Path) -> None:
        self.backend = backend_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if not ready:
                continue
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._pipe, args=(raw,), daemon=True)
            self._threads.append(t)
            t.start()

    def _pipe(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # a client that does not trust us: the handshake fails, as it should
            return
        with client, socket.create_connection(("127.0.0.1", self.backend)) as upstream:
            pairs = {client: upstream, upstream: client}
            while not self._stop.is_set():
                ready, _, _ = select.select(list(pairs), [], [], 0.05)
                pending = [client] if client.pending() else []
                for sock in set(ready) | set(pending):
                    try:
                        data = sock.recv(65536)
                    except (ssl.SSLError, OSError):
                        return
                    if not data:
                        return
                    pairs[sock].sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._accept.join()
        self.listener.close()
        for t in self._threads:
            t.join(5)
