"""The Broker and Trigger YAML of `eventing/`, loaded into plain values the local broker runs on.

One source of truth: the same files the Helm chart installs on Knative drive the local broker, so
routing and delivery settings cannot drift between a laptop and a cluster. Loading validates what
Knative's webhook would (and what the local broker cannot honour), naming the file and Trigger.

Delivery settings follow the Kafka broker (eventing-kafka-broker `EgressConfigFromDelivery` and
`MergeEgressConfig`): a Trigger's `spec.delivery` is merged over the Broker's field by field, the
Trigger winning; with no `retry` there are no retries; the per-request timeout defaults to 600 s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from orchestrator.local.filters import Filter, FilterError, compile_trigger_filter
from orchestrator.times import iso_duration
from orchestrator.validation import problem

logger = logging.getLogger(__name__)
Y = TypeVar("Y", bound="_Yaml")

ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order"
# EKB's WebClientCloudEventSender DEFAULT_TIMEOUT_MS: a request may take 10 minutes by default.
DEFAULT_TIMEOUT = 600.0
# EKB's controller fills backoffDelay from its own default when a Delivery sets only `retry`;
# one second is our pick, not a value Knative promises: set backoffDelay to be explicit.
DEFAULT_BACKOFF_DELAY = 1.0

class EventingConfigError(ValueError):
    """The eventing YAML is invalid, or asks for something the local broker does not do."""


@dataclass(frozen=True)
class Destination:
    """A Knative Destination: `ref` (a function, by name) plus `uri` path, or an absolute `uri`."""

    name: str | None
    uri: str = ""

    def url(self, base_urls: Mapping[str, str]) -> str:
        if self.name is None:
            return self.uri
        base = base_urls[self.name].rstrip("/")
        if not self.uri:
            return base
        return base + (self.uri if self.uri.startswith("/") else "/" + self.uri)


@dataclass(frozen=True)
class DeliverySpec:
    """`spec.delivery` as written: None means "not set here" (so a merge can fall through)."""

    retry: int | None = None
    backoff_policy: str | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    dead_letter_sink: Destination | None = None

    def merged_over(self, base: DeliverySpec) -> DeliverySpec:
        """Field by field, this spec (the Trigger's) wins over `base` (the Broker's)."""
        return DeliverySpec(
            retry=base.retry if self.retry is None else self.retry,
            backoff_policy=self.backoff_policy or base.backoff_policy,
            backoff_delay=base.backoff_delay if self.backoff_delay is None else self.backoff_delay,
            timeout=base.timeout if self.timeout is None else self.timeout,
            dead_letter_sink=self.dead_letter_sink or base.dead_letter_sink,
        )

    def effective(self) -> Delivery:
        delay = DEFAULT_BACKOFF_DELAY if self.backoff_delay is None else self.backoff_delay
        return Delivery(
            retry=self.retry or 0,
            backoff_policy=self.backoff_policy or "exponential",
            backoff_delay=delay,
            timeout=self.timeout or DEFAULT_TIMEOUT,
            dead_letter_sink=self.dead_letter_sink,
        )


@dataclass(frozen=True)
class Delivery:
    """The delivery settings a Trigger actually runs with, every field resolved."""

    retry: int
    backoff_policy: str
    backoff_delay: float
    timeout: float
    dead_letter_sink: Destination | None

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1 for the first retry).

        Knative: linear = backoffDelay * n, exponential = backoffDelay * 2^n.
        """
        if self.backoff_policy == "linear":
            return self.backoff_delay * retry_number
        return self.backoff_delay * float(2**retry_number)


@dataclass(frozen=True)
class Trigger:
    name: str
    subscriber: Destination
    filter: Filter
    delivery: Delivery
    ordered: bool = False


@dataclass(frozen=True)
class BrokerSpec:
    name: str
    namespace: str
    delivery: DeliverySpec


@dataclass(frozen=True)
class EventingConfig:
    """One Broker and the Triggers subscribed to it."""

    broker: BrokerSpec
    triggers: tuple[Trigger, ...]

    def trigger(self, name: str) -> Trigger | None:
        return next((t for t in self.triggers if t.name == name), None)

    def matching(self, attributes: Mapping[str, str]) -> list[Trigger]:
        return [t for t in self.triggers if t.filter.matches(attributes)]

    def destination_names(self) -> set[str]:
        """Every function name a Trigger or a dead-letter sink refers to by `ref`."""
        names = {t.subscriber.name for t in self.triggers}
        sinks = [t.delivery.dead_letter_sink for t in self.triggers]
        sinks.append(self.broker.delivery.dead_letter_sink)
        names |= {s.name for s in sinks if s is not None}
        return {n for n in names if n is not None}


def load_eventing(directory: Path, *, namespace: str = "default") -> EventingConfig:
    """Read every `*.yaml` in `directory` (sorted): exactly one Broker, any number of Triggers."""
    docs: list[tuple[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            docs.extend((path.name, d) for d in yaml.safe_load_all(path.read_text()) if d)
        except yaml.YAMLError as e:
            raise EventingConfigError(f"{path}: not valid YAML: {e}") from e
    return load_documents(docs, namespace=namespace)


def load_documents(
    docs: Iterable[tuple[str, Any]], *, namespace: str = "default"
) -> EventingConfig:
    """Build the config from (origin, document) pairs; `origin` only labels error messages."""
    brokers, triggers = [], []
    for origin, doc in docs:
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        if kind == "Broker":
            brokers.append((origin, doc))
        elif kind == "Trigger":
            triggers.append((origin, doc))
        else:
            logger.info("eventing: %s: ignoring a %s document", origin, kind or "non-object")
    if len(brokers) != 1:
        raise EventingConfigError(f"expected exactly one Broker, found {len(brokers)}")
    broker = _broker(*brokers[0], namespace=namespace)
    loaded = [_trigger(origin, doc, broker) for origin, doc in triggers]
    names = [t.name for t in loaded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EventingConfigError(f"duplicate Trigger names: {', '.join(duplicates)}")
    return EventingConfig(broker=broker, triggers=tuple(loaded))


def _broker(origin: str, doc: Mapping[str, Any], *, namespace: str) -> BrokerSpec:
    meta, spec = _section(doc, "metadata", origin), _section(doc, "spec", origin)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise EventingConfigError(f"{origin}: the Broker needs metadata.name")
    where = f"{origin}: Broker {name}"
    return BrokerSpec(name=name, namespace=str(meta.get("namespace") or namespace),
                      delivery=_delivery(spec.get("delivery"), where))


def _trigger(origin: str, doc: Mapping[str, Any], broker: BrokerSpec) -> Trigger:
    meta, spec = _section(doc, "metadata", origin), _section(doc, "spec", origin)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise EventingConfigError(f"{origin}: a Trigger needs metadata.name")
    where = f"{origin}: Trigger {name}"
    if spec.get("broker") != broker.name:
        raise EventingConfigError(
            f"{where}: spec.broker is {spec.get('broker')!r}, but the only Broker is "
            f"{broker.name!r}")
    order = ((meta.get("annotations") or {}).get(ORDER_ANNOTATION) or "unordered")
    if order not in ("ordered", "unordered"):
        raise EventingConfigError(
            f'{where}: {ORDER_ANNOTATION}: Allowed values [ "ordered" | "unordered" ]')
    subscriber = _destination(spec.get("subscriber"), f"{where}: spec.subscriber")
    try:
        flt = compile_trigger_filter(spec.get("filter"), spec.get("filters"), where=where)
    except FilterError as e:
        raise EventingConfigError(str(e)) from e
    own = _delivery(spec.get("delivery"), where)
    return Trigger(name=name, subscriber=subscriber, filter=flt,
                   delivery=own.merged_over(broker.delivery).effective(),
                   ordered=order == "ordered")


def _seconds(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO-8601 duration like PT30S, got {value!r}")
    return iso_duration(value)


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Yaml(BaseModel):
    # Strict: `retry: "3"` or `retry: true` is a mistake in the file, not a number.
    model_config = ConfigDict(frozen=True, strict=True, extra="allow", defer_build=True)


class RefIn(_Yaml):
    name: str = Field(min_length=1)


class DestinationIn(_Yaml):
    """A Knative Destination as written: `ref` plus optional `uri` path, or an absolute `uri`."""

    ref: RefIn | None = None
    uri: str = ""


class DeliveryIn(_Yaml):
    """`spec.delivery` as written (Knative's DeliverySpec); unknown fields are warned about."""

    retry: int | None = Field(default=None, ge=0)
    backoffPolicy: Literal["linear", "exponential"] | None = None  # noqa: N815 (Knative's names)
    backoffDelay: Seconds | None = None  # noqa: N815
    timeout: Seconds | None = Field(default=None, gt=0)
    deadLetterSink: DestinationIn | None = None  # noqa: N815
    format: str | None = None


def _delivery(raw: Any, where: str) -> DeliverySpec:
    if raw is None:
        return DeliverySpec()
    given = _validated(DeliveryIn, raw, where, "spec.delivery")
    where = f"{where}: spec.delivery"
    if given.format not in (None, "binary"):
        raise EventingConfigError(f"{where}.format: only binary delivery is supported by the "
                                  "local broker (the Kafka broker always sends binary)")
    for ignored in sorted(given.model_extra or {}):
        logger.warning("eventing: %s.%s is ignored by the local broker", where, ignored)
    sink = given.deadLetterSink
    return DeliverySpec(
        retry=given.retry, backoff_policy=given.backoffPolicy, backoff_delay=given.backoffDelay,
        timeout=given.timeout,
        dead_letter_sink=None if sink is None else _destination(sink, f"{where}.deadLetterSink"))


def _destination(raw: Any, where: str) -> Destination:
    head, _, tail = where.rpartition(": ")
    given = raw if isinstance(raw, DestinationIn) else _validated(DestinationIn, raw, head, tail)
    if given.ref is None:
        if not given.uri.startswith(("http://", "https://")):
            raise EventingConfigError(f"{where} needs ref.name or an absolute uri")
        return Destination(name=None, uri=given.uri)
    return Destination(name=given.ref.name, uri=given.uri)


def _validated(model: type[Y], raw: Any, where: str, what: str) -> Y:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise EventingConfigError(f"{where}: {problem(e, what, within=bool(what))}") from None


def _section(doc: Mapping[str, Any], key: str, origin: str) -> Mapping[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, Mapping):
        raise EventingConfigError(f"{origin}: {doc.get('kind')} {key} must be a mapping")
    return value
