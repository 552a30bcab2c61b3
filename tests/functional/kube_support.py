"""Helpers for the tests of the functions' way to the Kubernetes API (kube_transport,
kube_proxy): the fixtures themselves are in conftest.py (`server_for`, `named_tls`,
`no_proxy_env`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.adapters.kube import Connection, connect
from orchestrator.adapters.kube_reads import KubeReader
from orchestrator.adapters.kube_transport import ApiServer, Endpoint

NAME = "kube.example.test"
"""A name only the forward proxy resolves, as a proxied cluster's API server is."""

ServerFor = Callable[[Endpoint], ApiServer]
"""The `server_for` fixture: an `ApiServer` for an endpoint, closed after the test."""


def name_of(server: ApiServer) -> str:
    """The name of the pod `shop/web-0`, read through `server`."""
    return str(KubeReader(server, timeout=3).get("Pod", "shop", "web-0")["metadata"]["name"])


def b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode()


def connect_with(path: Path, cluster: dict[str, Any], user: dict[str, Any],
                 made: list[Connection]) -> Connection:
    """Connect as a function does, through a kubeconfig at `path` with one cluster and user."""
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    path.write_text(json.dumps(doc))
    conn = connect(kubeconfig=str(path), in_cluster=False)
    made.append(conn)
    return conn
