"""Who delivered a request, as Knative says: the sender identity check at each broker-facing edge.

Router, agent, executor and the console's `/events` and `/deadletter` take deliveries from the
broker's dispatcher. Where Knative's `authentication-oidc` is on, the dispatcher adds a token
for the subscriber's audience; a function configured with `<PREFIX>OIDC_AUDIENCE` refuses (401)
a delivery without a valid one before it reads the body, so a pod that can reach a function
but is not Knative's data plane is turned away at the door.

Defence in depth only: the event signatures (`orchestrator.provenance`) are checked after this
whatever it says, and they are what the functions rely on. Unconfigured (the default, and
the local stack), nothing is checked here and nothing is imported.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from orchestrator.cloudevent_http import lower_headers
from orchestrator.errors import OrchestratorError
from orchestrator.lifecycle import forget_settings, process_settings
from orchestrator.limits import Body, body_limit, read_body

if TYPE_CHECKING:
    from orchestrator.adapters.oidc import SenderIdentity
    from orchestrator.settings.common import SenderIdentitySettings

log = logging.getLogger(__name__)


class Delivery(Body, Protocol):
    """A request from the broker: its headers, besides what `read_body` needs."""

    @property
    def headers(self) -> Mapping[str, str]: ...


def settings_of(function: str) -> SenderIdentitySettings:
    """The settings of a broker-facing function (its own settings class), read once per process
    (`lifecycle.process_settings`): its service is built from the same read."""
    if function == "router":
        from orchestrator.settings.router import RouterSettings

        return process_settings(RouterSettings)
    if function == "agent":
        from orchestrator.settings.agent import AgentSettings

        return process_settings(AgentSettings)
    if function == "executor":
        from orchestrator.settings.executor import ExecutorSettings

        return process_settings(ExecutorSettings)
    if function == "console":
        from orchestrator.settings.console import ConsoleSettings

        return process_settings(ConsoleSettings)
    raise ValueError(f"{function!r} takes no broker deliveries")


def identity_from(settings: SenderIdentitySettings) -> SenderIdentity | None:
    """The verifier the settings describe; None when no audience is configured (off)."""
    if not settings.oidc_audience or not settings.oidc_issuer:
        return None
    from orchestrator.adapters.oidc import Issuer, SenderIdentity

    return SenderIdentity(Issuer(
        audience=settings.oidc_audience, issuer=settings.oidc_issuer,
        jwks_url=settings.oidc_jwks_url, ca_file=settings.oidc_ca_file,
        token_file=settings.oidc_token_file))


@functools.cache
def _identity(function: str) -> SenderIdentity | None:
    """One verifier per process (it caches the issuer's keys), built on the first delivery."""
    return identity_from(settings_of(function))


def check_sender(function: str, request: Delivery) -> None:
    """Refuse (401; 503 when the issuer's keys cannot be read) a delivery whose sender identity
    token does not verify, when the function is configured to check it. A refused body is left
    unread: functions-framework would otherwise read all of it after the response."""
    identity = _identity(function)
    if identity is None:
        return
    try:
        subject = identity.check(lower_headers(request.headers))
    except OrchestratorError:
        request.stream = io.BytesIO()
        raise
    log.debug("delivery from %s", subject)


def receive(function: str, request: Delivery) -> bytes:
    """A broker delivery's body: its sender checked (when configured), then read within the
    function's body limit (`orchestrator.limits`)."""
    check_sender(function, request)
    return read_body(request, body_limit(function))


def reset() -> None:
    """Forget the verifiers built so far (tests that change the settings between requests)."""
    _identity.cache_clear()
    forget_settings()
