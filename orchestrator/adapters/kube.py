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

The `kubernetes` package is imported only when a cluster is configured, and then only the
modules a connection needs, not the ~700 models its package `__init__` loads (cold start: see
`kube_import`); its exceptions never leave this package: `translated()` maps them onto
`orchestrator.errors`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.adapters.kube_errors import BadResponse, from_status
from orchestrator.adapters.kube_import import defer_package_inits
from orchestrator.adapters.kubeconfig import Plain, read_plain
from orchestrator.errors import OrchestratorError, TransientError

if TYPE_CHECKING:
    from orchestrator.settings.blocks import ClusterConnectionSettings

log = logging.getLogger(__name__)

Source = Literal["in-cluster", "kubeconfig", "none"]
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Connection:
    """The process's way to the API server: its `ApiClient` (None without a cluster)."""

    source: Source
    api_client: Any = None
    host: str = ""
    namespace: str | None = None
    """The ServiceAccount's namespace, or the kubeconfig context's."""
    problem: str | None = None
    """Why a configured cluster could not be used (None when nothing was configured)."""

    @property
    def available(self) -> bool:
        return self.api_client is not None

    def close(self) -> None:
        if self.api_client is not None:
            self.api_client.close()
            self.api_client.rest_client.pool_manager.clear()


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
        if found is not None:
            return _finish("in-cluster", *found, pool_size=pool_size, user_agent=user_agent)
    elif in_cluster and service_host and not token.is_file():
        problems.append(f"KUBERNETES_SERVICE_HOST is set but {token} does not exist "
                        "(automountServiceAccountToken: false?)")
    files = _kubeconfig_files(kubeconfig, home)
    if files:
        found = _from_kubeconfig(files, context, problems)
        if found is not None:
            return _finish("kubeconfig", *found, pool_size=pool_size, user_agent=user_agent)
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
                problems: list[str]) -> tuple[Any, str | None] | None:
    """(client Configuration, namespace), or None when the service account is unusable."""
    defer_package_inits()
    from kubernetes.client.configuration import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    cfg = Configuration()
    loader = InClusterConfigLoader(
        token_filename=str(sa_dir / "token"), cert_filename=str(sa_dir / "ca.crt"),
        try_refresh_token=True,
        environ={"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port})
    try:
        loader.load_and_set(cfg)
    except (ConfigException, OSError) as e:
        problems.append(f"in-cluster service account at {sa_dir}: {e}")
        return None
    namespace = None
    with contextlib.suppress(OSError):
        namespace = (sa_dir / "namespace").read_text(encoding="utf-8").strip() or None
    log.info("kubernetes: in-cluster service account (API %s, namespace %s)", cfg.host,
             namespace)
    return cfg, namespace


def _kubeconfig_files(kubeconfig: str | None, home: Path | None) -> list[str]:
    # "" says "no kubeconfig at all" (the embedded default when no --kubeconfig was named):
    # only None falls back to ~/.kube/config.
    if kubeconfig is not None:
        candidates = [p for p in kubeconfig.split(":") if p]
    else:
        candidates = [str((home or Path.home()) / ".kube" / "config")]
    return [str(Path(p).expanduser()) for p in candidates if Path(p).expanduser().is_file()]


def _from_kubeconfig(files: list[str], context: str | None,
                     problems: list[str]) -> tuple[Any, str | None] | None:
    defer_package_inits()
    plain = read_plain(files, context)
    if plain is not None:  # read without the client's loader and the auth libraries it imports
        cfg = _configuration(plain)
        log.info("kubernetes: kubeconfig %s, context %s (API %s)", files[0], plain.context,
                 cfg.host)
        return cfg, plain.namespace
    from kubernetes.client.configuration import Configuration
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
    return cfg, namespace


def _configuration(plain: Plain) -> Any:
    """The client's Configuration for a plain kubeconfig, set as its loader would set it."""
    from kubernetes.client.configuration import Configuration

    cfg = Configuration()
    cfg.host = plain.host
    if plain.authorization:
        cfg.api_key["BearerToken"] = plain.authorization
    cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file = (plain.ssl_ca_cert, plain.cert_file,
                                                     plain.key_file)
    if plain.verify_ssl is not None:
        cfg.verify_ssl = plain.verify_ssl
    if plain.tls_server_name is not None:
        cfg.tls_server_name = plain.tls_server_name
    return cfg


def _finish(source: Source, cfg: Any, namespace: str | None, *, pool_size: int,
            user_agent: str) -> Connection:
    defer_package_inits()
    from kubernetes.client.api_client import ApiClient

    # One pool connection per reader thread; urllib3 would otherwise discard and reconnect.
    cfg.connection_pool_maxsize = max(pool_size, 1)
    cfg.retries = _retries()
    client = ApiClient(cfg)
    client.user_agent = user_agent
    return Connection(source, client, cfg.host, namespace)


def _retries() -> Any:
    """urllib3's default policy, except that a timed-out read is not sent again.

    By default a read that times out is retried three times, so one request could take four
    times the configured timeout: a stalled API server then holds a delivery past its Trigger's
    timeout, and the broker sends the event again while the first attempt still runs. A timeout
    is the broker's to retry, with its backoff. Refused connections and connections the server
    dropped while idle are still retried at once, as before.
    """
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError
    from urllib3.response import BaseHTTPResponse
    from urllib3.util.retry import Retry

    class NoTimeoutRetry(Retry):
        def increment(self, method: str | None = None, url: str | None = None,
                      response: BaseHTTPResponse | None = None, error: Exception | None = None,
                      _pool: ConnectionPool | None = None,
                      _stacktrace: TracebackType | None = None) -> NoTimeoutRetry:
            if isinstance(error, ReadTimeoutError):
                raise MaxRetryError(_pool, url or "", error) from error  # type: ignore[arg-type]
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return NoTimeoutRetry(total=3, redirect=0)


# ---- errors ---------------------------------------------------------------------------------


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Run one API call, mapping every failure of the client onto our errors.

    A refusal → a `KubeError` by code (`kube_errors`: a read records it, a write reports it);
    401, throttling 429s, 5xx, refused connections, timeouts and TLS failures →
    `TransientError`, so the broker retries the delivery; unparseable or invalid bodies (a
    `ValueError`, which pydantic's ValidationError is, in the strict client of kubernetes 37)
    → `BadResponse`.
    """
    import urllib3

    from orchestrator.telemetry import span

    defer_package_inits()
    from kubernetes.client.exceptions import ApiException

    try:
        with span(f"kubernetes {what}", {"k8s.operation": what}):  # errors recorded on it
            yield
    except OrchestratorError:
        raise
    except ApiException as e:
        raise from_status(int(e.status or 0), e.reason, e.body, what) from e
    except urllib3.exceptions.HTTPError as e:
        # MaxRetryError wraps the real cause (refused, TLS verification, timeout): say that.
        cause = getattr(e, "reason", None) or e
        raise TransientError(f"Kubernetes API unreachable ({what}): {type(cause).__name__}: "
                             f"{str(cause)[:300]}") from e
    except OSError as e:
        raise TransientError(f"Kubernetes API unreachable ({what}): {e.strerror or e}") from e
    except ValueError as e:
        raise BadResponse(0, "BadResponse", str(e)[:300], what) from e


def status_error(code: int, body: bytes | str | None, what: str) -> OrchestratorError:
    """The error for a non-2xx answer read without the client's own check (a streamed body)."""
    return from_status(code, None, body, what)
