"""What ingest accepts, declared as pydantic models: the Alertmanager webhook v4 and the manual
trigger's data.

Validation is strict (no `3` for a string, no `"true"` for a boolean) and its errors become 4xx
messages that name the field and say what it got (`orchestrator.validation.problem`). The
webhook is validated in two steps, the group and then each alert on its own, so one bad alert
is reported by index and does not sink the rest. Fields newer Alertmanagers add
(`notification_reason`, `routeLabels`, …) are ignored; the manual trigger's data forbids
unknown fields (it is typed by a person). Times go through `orchestrator.times`, like every
RFC 3339 time the project reads.

Models are built on first use (`defer_build`), the first webhook's cost; measured in the commit
that introduced them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, NonNegativeInt, ValidationError

from orchestrator.errors import PermanentError
from orchestrator.times import ZERO_TIME, rfc3339
from orchestrator.validation import kind, problem


def _time(value: Any) -> datetime | None:
    if value is None or value == "" or value == ZERO_TIME:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be an RFC 3339 string, got {kind(value)}")
    try:
        parsed = rfc3339(value)
    except ValueError as e:
        raise ValueError(f"is not an RFC 3339 time: {e}") from None
    return None if parsed.year <= 1 else parsed  # Go's zero time, however it is written


Time = Annotated[datetime | None, BeforeValidator(_time)]

class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore", defer_build=True)


M = TypeVar("M", bound=_Input)


class AlertIn(_Input):
    """One alert as Alertmanager sends it."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: Time = None  # noqa: N815 (Alertmanager's names)
    endsAt: Time = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str | None = None


class WebhookIn(_Input):
    """The group around the alerts; the alerts themselves are validated one by one."""

    version: str
    alerts: list[Any]
    receiver: str = ""
    status: str = ""
    groupLabels: dict[str, Any] = {}  # noqa: N815
    commonLabels: dict[str, Any] = {}  # noqa: N815
    commonAnnotations: dict[str, Any] = {}  # noqa: N815
    externalURL: str = ""  # noqa: N815
    groupKey: str = ""  # noqa: N815
    truncatedAlerts: NonNegativeInt = 0  # noqa: N815


class ManualIn(AlertIn):
    """A manual trigger's data: an alert typed by hand, its status firing unless said, and the
    token when no Authorization header could be sent (`kn func invoke`)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["firing", "resolved"] = "firing"
    token: str | None = None
    test: bool = False


def validated(model: type[M], raw: Any, what: str, *, within: bool = False) -> M:
    """`raw` as `model`, or a PermanentError (400) naming what is wrong."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise PermanentError(problem(e, what, within=within)) from None
