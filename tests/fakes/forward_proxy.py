"""A forward HTTP proxy, as clusters behind a corporate proxy have (squid, tinyproxy): `CONNECT
host:port` tunnels for HTTPS, absolute-form requests (`GET http://host/path`) for plain HTTP.

Host names are looked up in `routes` ("name:port" → local port) before DNS, so a test can name
a server that only the proxy can reach (as a proxied cluster's API server is) while the client
connects to loopback, which it never proxies. Each request's target and `Proxy-Authorization`
are recorded in `seen`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.fakes.tls_proxy import Listener, pipe


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    """`host:port` for CONNECT, the absolute URL otherwise."""
    authorization: str | None


class ForwardProxy(Listener):
    def __init__(self, routes: dict[str, int]) -> None:
        self.routes = routes
        self.seen: list[Seen] = []
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def handle(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            head, rest = head.split(b"\r\n\r\n", 1)
            line, *fields = head.decode("latin-1").split("\r\n")
            method, target, version = line.split(" ")
            headers = dict(f.split(": ", 1) for f in fields)
            auth = next((v for k, v in headers.items() if k.lower() == "proxy-authorization"),
                        None)
            self.seen.append(Seen(method, target, auth))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                path = None
            else:
                url = urlsplit(target)
                host, port = url.hostname or "", str(url.port or 80)
                path = url.path + (f"?{url.query}" if url.query else "")
            local = self.routes.get(f"{host}:{port}")
            try:
                upstream = socket.create_connection(("127.0.0.1", local) if local else
                                                    (host, int(port)), timeout=5)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                if path is None:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                else:  # forward in origin form, without the hop-by-hop proxy header
                    kept = [f for f in fields if not f.lower().startswith("proxy-")]
                    upstream.sendall("\r\n".join([f"{method} {path} {version}", *kept])
                                     .encode("latin-1") + b"\r\n\r\n" + rest)
                pipe(client, upstream, self._stop)
