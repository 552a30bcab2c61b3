"""The Kubernetes API's refusals as our errors: one tree for the router's reads and the
executor's writes.

Retrying fixes some answers: none at all (TLS, a request the client could not build), 401 (a
rotated token is read again on the retry), 429 from API priority and fairness, 5xx. Those are a
`TransientError` (HTTP 5xx, the broker redelivers). Every other refusal is a `KubeError`
carrying the API's own code, reason and message: a read records it and goes on, a write
reports it. Which one by code: 404 `NotFound`, 403 `Forbidden`, 409 `Conflict` (a precondition
failed), 410 `Gone` (a watch's resourceVersion is too old), and `Rejected` for the rest (a
PodDisruptionBudget's 429, an invalid object's 422, a bad request); `BadResponse` when the
answer could not be parsed.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.errors import OrchestratorError, PermanentError, TransientError

_MESSAGE_CHARS = 500


class KubeError(PermanentError):
    """The API refused one request for a reason retrying it cannot fix.

    (A PermanentError so that, if one ever escaped a caller, the broker would not retry it.)
    """

    def __init__(self, code: int, reason: str, message: str, what: str = "") -> None:
        super().__init__(f"{what + ': ' if what else ''}{code} {reason}: {message}", status=400)
        self.code = code
        self.reason = reason
        self.message = message
        self.what = what


class NotFound(KubeError):
    """404: the object is gone (a deleted pod) or never existed."""


class Forbidden(KubeError):
    """403: RBAC does not let this identity do it."""


class Conflict(KubeError):
    """409: a precondition failed (resourceVersion, uid) or the object already exists."""


class Gone(KubeError):
    """410: a watch's resourceVersion is too old; list again and resume from there."""


class Rejected(KubeError):
    """Any other refusal: a PodDisruptionBudget (429), an invalid object (422), a bad request."""


class BadResponse(KubeError):
    """The API answered something the client could not parse or validate."""


_BY_CODE: dict[int, type[KubeError]] = {404: NotFound, 403: Forbidden, 409: Conflict, 410: Gone}


def from_status(code: int, reason: str | None, body: Any, what: str) -> OrchestratorError:
    """The error for an answer with HTTP status `code` (0: none) and the API's Status `body`."""
    status = status_body(body)
    reason = str(status.get("reason") or reason or "Unknown")
    message = str(status.get("message") or "")[:_MESSAGE_CHARS]
    causes = (status.get("details") or {}).get("causes") or []
    evicting = any(isinstance(c, dict) and c.get("reason") == "DisruptionBudget" for c in causes)
    if code in (0, 401) or code >= 500 or (code == 429 and not evicting):
        return TransientError(f"Kubernetes API {what}: {code or 'no answer'} {reason}: "
                              f"{message or 'retry later'}")
    kind = _BY_CODE.get(code)
    if kind is not None:
        return kind(code, reason, message, what)
    cause = "; ".join(str(c.get("message")) for c in causes
                      if isinstance(c, dict) and c.get("message"))
    return Rejected(code, reason, f"{message} ({cause})" if cause else message, what)


def status_body(body: Any) -> dict[str, Any]:
    """The API's Status object from an error body; its text as the message when not JSON."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        return {"message": body[:_MESSAGE_CHARS]}
    return doc if isinstance(doc, dict) else {}
