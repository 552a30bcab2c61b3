"""Reading a plain kubeconfig without the Kubernetes client's loader (cold start).

`kubernetes.config.kube_config` imports google-auth, oauthlib and requests-oauthlib for the auth
plugins it supports: most of what a kubeconfig added to the router's cold start. Most kubeconfigs
a function meets name a server (maybe its proxy), a CA and a token, a client certificate or a
user and password;
this reads those itself, as the loader does: the named (else current) context, paths relative to
the kubeconfig's folder, `*-data` fields (base64) written to private temporary files, `token`
before `tokenFile`, a token before a user and password, certificates only for `https` servers.

Anything else (several files to merge, `exec` and `auth-provider` plugins, a context, cluster or
user that is missing, a file that is not there, any field this does not know) answers None: the
caller then uses the client's loader, which handles it, or explains what is wrong.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.adapters.kube_transport import Endpoint, Fixed, TokenFile

_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data",
                 "insecure-skip-tls-verify", "tls-server-name", "proxy-url", "extensions"}
_USER_KEYS = {"token", "tokenFile", "client-certificate", "client-certificate-data",
              "client-key", "client-key-data", "username", "password", "extensions"}


@dataclass(frozen=True)
class Plain:
    """A plain kubeconfig's context, read."""

    context: str
    endpoint: Endpoint
    namespace: str | None = None
    """The current context's namespace (None when a context was named: the loader's rule)."""


def read_plain(files: list[str], context: str | None) -> Plain | None:
    """The one kubeconfig file's settings for `context` (else its current context), or None
    when it is not plain enough to read here."""
    if len(files) != 1:
        return None
    path = Path(files[0])
    try:
        config = _parsed(path.read_text(encoding="utf-8"))
        return _plain(config, context, base=Path(os.path.abspath(path)).parent)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _parsed(text: str) -> Any:
    """The kubeconfig's document: as JSON when it is JSON (`kubectl config view -o json`
    writes it; JSON is YAML, so the client's loader reads it alike), else as YAML. Importing
    PyYAML compiles its reader's and resolver's patterns: measured, 0.13× a hello-world
    function's whole cold start (instructions), spent on a file that needs none of it."""
    if text.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            return json.loads(text)
    import yaml  # a YAML flow mapping may start with "{" as well: not JSON, so read here

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as e:
        raise ValueError(f"kubeconfig is not YAML: {e}") from e


def _plain(config: Any, context: str | None, *, base: Path) -> Plain | None:
    name = context or config.get("current-context")
    ctx = _named(config.get("contexts"), name, "context")
    if ctx is None or not isinstance(ctx.get("cluster"), str):
        return None
    cluster = _named(config.get("clusters"), ctx["cluster"], "cluster")
    user = _named(config.get("users"), ctx.get("user"), "user")
    if cluster is None or user is None or not isinstance(cluster.get("server"), str):
        return None
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS:
        return None  # exec, auth-provider, ...: the client's loader knows them
    host = cluster["server"].rstrip("/")
    tls: dict[str, str | None] = {}
    if host.startswith("https"):
        tls = {"ca_file": _as_file(cluster, "certificate-authority", base),
               "cert_file": _as_file(user, "client-certificate", base),
               "key_file": _as_file(user, "client-key", base)}
    # Only a real `true` turns verification off (a quoted "false" is not a yes).
    endpoint = Endpoint(host, verify=cluster.get("insecure-skip-tls-verify") is not True,
                        tls_server_name=cluster.get("tls-server-name"),
                        proxy=cluster.get("proxy-url"),
                        authorization=_authorization(user, base), **tls)
    return Plain(name, endpoint, None if context else ctx.get("namespace"))


def _named(items: Any, name: Any, key: str) -> dict[str, Any] | None:
    """The `key` mapping of the entry called `name` in a kubeconfig list (the first one)."""
    if not isinstance(name, str) or not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(key)
            return value if isinstance(value, dict) else None
    return None


def _authorization(user: dict[str, Any], base: Path) -> Callable[[], str | None]:
    """The user's `Authorization` header: a `token`, else a `tokenFile` (re-read every minute,
    its line end stripped, as client-go does), else a user and password, else none."""
    if "token" in user:
        if user["token"]:
            return Fixed(f"Bearer {user['token']}")
    elif "tokenFile" in user:
        path = base / user["tokenFile"]
        if path.read_text(encoding="utf-8").strip():
            return TokenFile(path)
    if "username" in user and "password" in user:
        plain = f"{user['username']}:{user['password']}".encode("latin-1")
        return Fixed("Basic " + base64.b64encode(plain).decode())
    return Fixed()


def _as_file(section: dict[str, Any], key: str, base: Path) -> str | None:
    """The file holding `key`: `<key>-data` decoded into a private temporary file (preferred,
    as the loader does), else `<key>` relative to the kubeconfig's folder (which must exist)."""
    if f"{key}-data" in section:
        data = section[f"{key}-data"]
        return _temporary(base64.standard_b64decode(data)) if data else None
    if key not in section:
        return None
    found = os.path.normpath(base / str(section[key]))
    if not os.path.isfile(found):
        raise ValueError(f"file does not exist: {found}")
    return found


_written: dict[bytes, str] = {}


def _temporary(content: bytes) -> str:
    if content not in _written:
        if not _written:
            atexit.register(_remove_written)
        fd, name = tempfile.mkstemp(prefix="kubeconfig-")  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        _written[content] = name
    return _written[content]


def _remove_written() -> None:
    for name in _written.values():
        with contextlib.suppress(OSError):
            os.unlink(name)
    _written.clear()
