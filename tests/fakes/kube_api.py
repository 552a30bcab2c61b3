"""The fake kube-apiserver tests use: :class:`orchestrator.sim.api.SimAPI` (moved into the
package, the simulated cluster being product code) plus the test-side helpers that hand out
connections to it: the adapters' own (`server()`), and real ``kubernetes`` clients (which the
package may not import outside its adapters) for tests that check the fake against the client::

    with FakeKubeAPI() as api:
        api.add(kube_objects.pod("web-1", "shop"))
        core = kubernetes.client.CoreV1Api(api.api_client())
        core.read_namespaced_pod("web-1", "shop")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.sim.api import SimAPI
from orchestrator.sim.server import Delay, Fault, RecordedRequest

if TYPE_CHECKING:
    from orchestrator.adapters.kube_transport import ApiServer

__all__ = ["FakeKubeAPI", "RecordedRequest", "Fault", "Delay"]


class FakeKubeAPI(SimAPI):
    """The simulated API server, with client helpers for tests. Use as a context manager."""

    def configuration(self, **overrides: Any) -> Any:
        """A ``kubernetes.client.Configuration`` pointing at this server."""
        from kubernetes import client  # lazy: keep importing this module cheap

        cfg = client.Configuration()
        cfg.host = self.url
        for key, value in overrides.items():
            setattr(cfg, key, value)
        return cfg

    def server(self, host: str | None = None) -> ApiServer:
        """The adapters' connection (`kube_transport.ApiServer`) to this server, or to `host`;
        closed by ``stop()``."""
        from orchestrator.adapters.kube_transport import ApiServer, Endpoint

        server = ApiServer(Endpoint(host or self.url))
        self.on_stop(server.close)
        return server

    def api_client(self, **overrides: Any) -> Any:
        """A ``kubernetes.client.ApiClient``; closed (pool included) by ``stop()``."""
        from kubernetes import client

        api_client = client.ApiClient(self.configuration(**overrides))

        def close() -> None:
            api_client.close()
            api_client.rest_client.pool_manager.clear()

        self.on_stop(close)
        return api_client
