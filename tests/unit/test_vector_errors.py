"""qdrant-client's failures never leave the vector-store adapter as the client's own types."""

from __future__ import annotations

import grpc  # type: ignore[import-untyped]
import httpx
import pytest
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from orchestrator.adapters.vectors import _translated
from orchestrator.errors import TransientError


@pytest.mark.parametrize("error", [
    UnexpectedResponse(503, "Service Unavailable", b"{}", httpx.Headers()),
    ResponseHandlingException(ConnectionRefusedError("refused")),
    ResourceExhaustedResponse("too many requests", 3),
    grpc.RpcError(),
    httpx.ReadTimeout("slow"),
    ConnectionResetError("reset"),
    ValueError("Collection runbooks not found"),
    RuntimeError("Storage folder is already accessed by another instance of Qdrant client"),
], ids=lambda e: type(e).__name__)
def test_client_errors_become_transient(error: Exception) -> None:
    with pytest.raises(TransientError, match="qdrant") as e, _translated("query"):
        raise error
    assert e.value.__cause__ is error


def test_a_bug_of_ours_is_not_hidden_as_an_outage() -> None:
    with pytest.raises(KeyError), _translated("query"):
        raise KeyError("payload")
