"""Connecting to the Kubernetes API once per process, and translating its failures.

Where the credentials come from, in the order kubectl and client-go use:

1. in a Pod: the ServiceAccount token and CA mounted at
   `/var/run/secrets/kubernetes.io/serviceaccount` plus `KUBERNETES_SERVICE_HOST`/`_PORT`
   (the token is re-read every minute: bound tokens expire);
2. else a kubeconfig: `KUBECONFIG` (a path list, as kubectl reads it) or `~/.kube/config`
   (an empty setting means none: the embedded default never picks up a cluster by itself);
3. else no cluster: the functions still work, on what the alert's labels say.

The first design loaded a kubeconfig unconditionally and died in production on "kubeconfig: no
such file" inside a Pod; here each step is tried only when its files exist, what was chosen is
logged once, and a broken step is logged and skipped rather than taking the function down.

Requests go through `kube_transport` (the standard library's HTTP, not the `kubernetes`
client's: cold start). The `kubernetes` package is imported only for a kubeconfig that needs
its loader (exec and auth-provider plugins, several files to merge): `kubeconfig.read_plain`
reads the rest. Failures leave as `orchestrator.errors`: `translated()`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.adapters.kube_errors import BadResponse, from_status
from orchestrator.errors import OrchestratorError, TransientError

if TYPE_CHECKING:
    from orchestrator.adapters.kube_transport import ApiServer, Endpoint
    from orchestrator.settings.blocks import ClusterConnectionSettings

log = logging.getLogger(__name__)

Source = Literal["in-cluster", "kubeconfig", "none"]
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    """The process's way to the API server (`server` None without a cluster)."""

    source: Source
    server: ApiServer | None = None
    namespace: str | None = None
    """The ServiceAccount's namespace, or the kubeconfig context's."""
    problem: str | None = None
    """Why a configured cluster could not be used (None when nothing was configured)."""

    @property
    def available(self) -> bool:
        return self.server is not None

    @property
    def host(self) -> str:
        return self.server.host if self.server is not None else ""

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def connect_to(cluster: ClusterConnectionSettings, *, pool_size: int = 16,
               user_agent: str = "incident-orchestrator") -> Connection:
    """`connect` as a function's cluster-connection settings block describes it."""
    return connect(in_cluster=cluster.in_cluster, service_host=cluster.service_host,
                   service_port=cluster.service_port,
                   service_account_dir=cluster.service_account_dir,
                   kubeconfig=cluster.kubeconfig, context=cluster.kube_context,
                   pool_size=pool_size, user_agent=user_agent)


def connect(
    *,
    in_cluster: bool = True,
    service_host: str | None = None,
    service_port: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    kubeconfig: str | None = None,
    context: str | None = None,
    home: Path | None = None,
    pool_size: int = 16,
    user_agent: str = "incident-orchestrator",
) -> Connection:
    """Build the process's connection: in-cluster, else kubeconfig, else none. Logs the choice."""
    problems: list[str] = []
    token = service_account_dir / "token"
    if in_cluster and service_host and service_port and token.is_file():
        found = _in_cluster(service_host, service_port, service_account_dir, problems)
        conn = _finish("in-cluster", found, problems, pool_size=pool_size, user_agent=user_agent)
        if conn is not None:
            return conn
    elif in_cluster and service_host and not token.is_file():
        problems.append(f"KUBERNETES_SERVICE_HOST is set but {token} does not exist "
                        "(automountServiceAccountToken: false?)")
    files = _kubeconfig_files(kubeconfig, home)
    if files:
        found = _from_kubeconfig(files, context, problems)
        conn = _finish("kubeconfig", found, problems, pool_size=pool_size, user_agent=user_agent)
        if conn is not None:
            return conn
    elif kubeconfig:
        problems.append(f"kubeconfig {kubeconfig}: no such file")
    problem = "; ".join(problems) or None
    if problem:
        log.error("kubernetes: no usable cluster configuration (%s): running without a cluster",
                  problem)
    else:
        log.info("kubernetes: no in-cluster service account and no kubeconfig: "
                 "running without a cluster (context from alert labels only)")
    return Connection("none", problem=problem)


def _in_cluster(host: str, port: str, sa_dir: Path,
                problems: list[str]) -> tuple[Endpoint, str | None] | None:
    """The service account's endpoint and namespace, or None when it is unusable (checked as
    the client's in-cluster loader checks: a token and a CA that are not empty)."""
    from orchestrator.adapters.kube_proxy import join
    from orchestrator.adapters.kube_transport import Endpoint, TokenFile

    token, ca = TokenFile(sa_dir / "token"), sa_dir / "ca.crt"
    try:
        token()
        if not ca.read_bytes().strip():
            raise ValueError(f"{ca} is empty")
    except (OSError, ValueError, TransientError) as e:
        problems.append(f"in-cluster service account at {sa_dir}: {e}")
        return None
    namespace = None
    with contextlib.suppress(OSError):
        namespace = (sa_dir / "namespace").read_text(encoding="utf-8").strip() or None
    endpoint = Endpoint(f"https://{join(host, port)}", ca_file=str(ca), authorization=token)
    log.info("kubernetes: in-cluster service account (API %s, namespace %s)", endpoint.host,
             namespace)
    return endpoint, namespace


def _kubeconfig_files(kubeconfig: str | None, home: Path | None) -> list[str]:
    # "" says "no kubeconfig at all" (the embedded default when no --kubeconfig was named):
    # only None falls back to ~/.kube/config.
    if kubeconfig is not None:
        candidates = [p for p in kubeconfig.split(":") if p]
    else:
        candidates = [str((home or Path.home()) / ".kube" / "config")]
    return [str(Path(p).expanduser()) for p in candidates if Path(p).expanduser().is_file()]


def _from_kubeconfig(files: list[str], context: str | None,
                     problems: list[str]) -> tuple[Endpoint, str | None] | None:
    from orchestrator.adapters.kube_transport import Endpoint
    from orchestrator.adapters.kubeconfig import read_plain

    plain = read_plain(files, context)
    if plain is not None:  # read without the client's loader and the auth libraries it imports
        log.info("kubernetes: kubeconfig %s, context %s (API %s)", files[0], plain.context,
                 plain.endpoint.host)
        return plain.endpoint, plain.namespace
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import list_kube_config_contexts, load_kube_config

    path = ":".join(files)
    cfg = Configuration()
    try:
        load_kube_config(config_file=path, context=context, client_configuration=cfg,
                         persist_config=False)
        _, current = list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as e:
        # A kubeconfig that exists but cannot be used is the operator's error: say so loudly.
        problems.append(f"kubeconfig {path}: {e}")
        return None
    name = context or (current or {}).get("name")
    namespace = None
    if current and not context:
        namespace = (current.get("context") or {}).get("namespace")
    log.info("kubernetes: kubeconfig %s, context %s (API %s)", path, name, cfg.host)
    refreshing = threading.Lock()

    def authorization() -> str | None:  # runs the loader's refresh hook (exec plugin tokens)
        with refreshing:  # reader threads must not run the plugin at once
            value = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        return str(value) if value else None

    return Endpoint(cfg.host.rstrip("/"), ca_file=cfg.ssl_ca_cert, cert_file=cfg.cert_file,
                    key_file=cfg.key_file, verify=bool(cfg.verify_ssl),
                    tls_server_name=cfg.tls_server_name, authorization=authorization,
                    proxy=_proxy_url(path, current if not context else None, context)), namespace


def _proxy_url(path: str, current: dict[str, Any] | None, context: str | None) -> str | None:
    """The used cluster's `proxy-url`, which the client's loader does not read."""
    from kubernetes.config.kube_config import KubeConfigMerger

    config = KubeConfigMerger(path).config
    if current is None:
        current = next((c.value for c in config["contexts"] if c["name"] == context), None)
    cluster = ((current or {}).get("context") or {}).get("cluster")
    for entry in config["clusters"] or []:
        if entry["name"] == cluster:
            found = (entry.value.get("cluster") or {}).get("proxy-url")
            return str(found) if found else None
    return None


def _finish(source: Source, found: tuple[Endpoint, str | None] | None, problems: list[str], *,
            pool_size: int, user_agent: str) -> Connection | None:
    """The connection to a found endpoint, or None (and why) when its URL, proxy or TLS files
    cannot be used."""
    if found is None:
        return None
    from orchestrator.adapters.kube_transport import ApiServer

    endpoint, namespace = found
    try:
        # One pooled connection per reader thread: more would be opened and closed per request.
        server = ApiServer(endpoint, pool_size=pool_size, user_agent=user_agent)
    except (OSError, ValueError) as e:
        problems.append(f"{source} API server {endpoint.host}: {e}")
        return None
    return Connection(source, server, namespace)


# ---- errors ---------------------------------------------------------------------------------


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Run one API call, mapping every failure under it onto our errors.

    A refusal is already a `KubeError` by code (`kube_errors`, raised by the transport: a read
    records it, a write reports it); refused and reset connections, timeouts and TLS failures
    (`OSError`, `http.client.HTTPException`) → `TransientError`, so the broker retries the
    delivery; an unparseable or invalid body (`ValueError`) → `BadResponse`.
    """
    from http.client import HTTPException

    from orchestrator.telemetry import span

    try:
        with span(f"kubernetes {what}", {"k8s.operation": what}):  # errors recorded on it
            yield
    except OrchestratorError:
        raise
    except (OSError, HTTPException) as e:
        raise TransientError(f"Kubernetes API unreachable ({what}): {type(e).__name__}: "
                             f"{str(e)[:300]}") from e
    except ValueError as e:
        raise BadResponse(0, "BadResponse", str(e)[:300], what) from e


def status_error(code: int, body: bytes | str | None, what: str) -> OrchestratorError:
    """The error for a non-2xx answer read without the client's own check (a streamed body)."""
    return from_status(code, None, body, what)
