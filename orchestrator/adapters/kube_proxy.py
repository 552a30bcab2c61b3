"""Proxies between the functions and the Kubernetes API server, as kubectl uses them.

The kubeconfig's `proxy-url`, else `HTTPS_PROXY` (or `HTTP_PROXY` for a plain-HTTP server)
minus `NO_PROXY`, read by Go's rules (`x/net/http/httpproxy`, which kubectl and client-go use).
The proxy itself is spoken to in plain HTTP: HTTPS goes through its CONNECT tunnel, so TLS to
the API server stays end to end, and a plain-HTTP API server gets absolute-form requests. A
proxy's user and password become its `Proxy-Authorization` and are never printed.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Proxy:
    """Where the proxy listens, and what to tell it."""

    host: str
    port: int
    headers: dict[str, str] = field(repr=False)
    """`Proxy-Authorization` when the proxy URL carries a user and password."""


def proxy_for(scheme: str, host: str, port: int, configured: str | None,
              environ: Any = os.environ) -> Proxy | None:
    """The proxy to reach `host` through: the kubeconfig's, else the environment's."""
    url = configured
    if url is None:
        if bypasses(host, port, environ.get("NO_PROXY") or environ.get("no_proxy") or ""):
            return None
        names = ("HTTPS_PROXY", "https_proxy") if scheme == "https" else ("HTTP_PROXY",
                                                                          "http_proxy")
        url = next((environ[n] for n in names if environ.get(n)), None)
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname or ''}" + (
            f":{parts.port}" if parts.port else "")  # never its user and password
        raise ValueError(f"proxy {shown}: only http:// proxies are supported (TLS to the API "
                         "server is end to end through the proxy's CONNECT tunnel)")
    headers = {}
    if parts.username is not None:
        user = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(user).decode()
    return Proxy(parts.hostname, parts.port or 80, headers)


def bypasses(host: str, port: int, no_proxy: str) -> bool:
    """Whether `NO_PROXY` exempts `host:port`, as Go's net/http (kubectl) reads it: `*`; an IP
    (maybe with a port) or a CIDR range for an IP host; a domain for itself and its subdomains,
    a leading `.` or `*.` for its subdomains only, maybe with a port. Loopback is never
    proxied."""
    host = host.lower().strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return True
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        name, wanted = _split_port(entry)
        if not name or (wanted is not None and wanted != port):
            continue
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if name.startswith("*."):
            name = name[1:]
        if host.endswith(name if name.startswith(".") else "." + name) or host == name:
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """(host, port) of a `NO_PROXY` entry: `name`, `name:port`, `ip`, `[v6]:port`, `cidr`."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None  # a name, an IPv4 address or range, or a bare IPv6 one


def open_tunnel(sock: socket.socket, target: str, headers: dict[str, str]) -> None:
    """Ask the proxy on `sock` for a tunnel to `target` (`host:port`, an IPv6 host in brackets,
    which `set_tunnel` leaves out before Python 3.11.9); raises when it refuses."""
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    answer = http.client.HTTPResponse(sock, method="CONNECT")
    try:
        answer.begin()
    finally:
        answer.close()  # its reader only: the socket goes on, into TLS
    if answer.status != 200:
        raise ConnectionRefusedError(
            f"proxy answered CONNECT {target} with {answer.status} {answer.reason}")


def join(host: str, port: int | str) -> str:
    """`host:port`, an IPv6 host in brackets (a URL's authority, a CONNECT target)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
