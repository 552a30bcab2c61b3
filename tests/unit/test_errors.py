"""The retry contract: a PermanentError is always a 4xx (never retried), a TransientError always
a 5xx (retried by the broker), whatever status a caller asks for."""

from __future__ import annotations

import pytest

from orchestrator.errors import AuthError, PermanentError, TransientError, retryable


def test_defaults_and_chosen_statuses() -> None:
    assert PermanentError("bad").status == 400
    assert PermanentError("too big", status=413).status == 413
    assert TransientError("down").status == 503
    assert TransientError("gateway", status=502).status == 502
    assert AuthError().status == 401


@pytest.mark.parametrize(("cls", "status"), [
    (PermanentError, 503), (PermanentError, 200), (TransientError, 404), (TransientError, 600),
])
def test_a_status_outside_the_class_is_refused(cls: type[PermanentError], status: int) -> None:
    with pytest.raises(ValueError, match=f"needs a .xx status, not {status}"):
        cls("x", status=status)


def test_retryable_is_what_knative_would_retry_of_a_dependency() -> None:
    assert [s for s in (0, 400, 404, 408, 409, 429, 500, 503) if retryable(s)] == [
        0, 408, 429, 500, 503]
