"""Trigger filters, evaluated the way Knative's Kafka broker evaluates them.

The local broker must route exactly like the cluster does, or a function that works locally breaks
on Knative. So this module implements both filter syntaxes a Trigger may carry:

- the legacy `spec.filter.attributes` map (exact match on every listed attribute; the empty string
  matches any value, Knative's `TriggerAnyFilter`);
- the `spec.filters` list (ANDed) with the dialects `exact`, `prefix`, `suffix`, `not`, `any`,
  `all`. When both are set, `filters` wins, as in Knative.

Filters are compiled once, at load, and validated with the rules of Knative's admission webhook
(one dialect per entry, one attribute per `exact`/`prefix`/`suffix`, no empty value), so a Trigger
the cluster would refuse is refused here too, with the Trigger's name in the message. `cesql` is
refused at load: a silently-ignored filter would deliver events the cluster would not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]+$")


class FilterError(ValueError):
    """A Trigger filter the local broker cannot (or Knative would not) accept."""


class Filter(Protocol):
    """Anything that can decide whether an event's attributes pass."""

    def matches(self, attributes: Mapping[str, str]) -> bool: ...


@dataclass(frozen=True)
class MatchAll:
    """No filter at all: every event passes (a Trigger without `filter` and `filters`)."""

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return True


@dataclass(frozen=True)
class Attributes:
    """The legacy `filter.attributes` map; an empty value accepts any value, even a missing one."""

    expected: tuple[tuple[str, str], ...]

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return all(v == "" or attributes.get(k) == v for k, v in self.expected)


@dataclass(frozen=True)
class Compare:
    """`exact`, `prefix` or `suffix` on one attribute; a missing attribute never matches."""

    dialect: str
    attribute: str
    value: str

    def matches(self, attributes: Mapping[str, str]) -> bool:
        actual = attributes.get(self.attribute)
        if actual is None:
            return False
        return _COMPARE[self.dialect](actual, self.value)


@dataclass(frozen=True)
class Not:
    inner: Filter

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return not self.inner.matches(attributes)


@dataclass(frozen=True)
class AnyOf:
    filters: tuple[Filter, ...]

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return any(f.matches(attributes) for f in self.filters)


@dataclass(frozen=True)
class AllOf:
    filters: tuple[Filter, ...]

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return all(f.matches(attributes) for f in self.filters)


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda actual, value: actual == value,
    "prefix": str.startswith,
    "suffix": str.endswith,
}
_DIALECTS = (*_COMPARE, "not", "any", "all", "cesql")


def compile_trigger_filter(filter_spec: Any, filters_spec: Any, *, where: str) -> Filter:
    """Compile a Trigger's `spec.filter` and `spec.filters` into one matcher.

    `where` names the Trigger in error messages, so a bad YAML file points at the right place.
    """
    if filters_spec:
        if not isinstance(filters_spec, list):
            raise FilterError(f"{where}: spec.filters must be a list of filters")
        return AllOf(tuple(_compile(f, f"{where}: spec.filters[{i}]")
                           for i, f in enumerate(filters_spec)))
    if filter_spec:
        if not isinstance(filter_spec, Mapping):
            raise FilterError(f"{where}: spec.filter must be a mapping with `attributes`")
        attrs = filter_spec.get("attributes") or {}
        if not isinstance(attrs, Mapping):
            raise FilterError(f"{where}: spec.filter.attributes must be a mapping")
        expected = []
        for name, value in attrs.items():
            _check_name(name, f"{where}: spec.filter.attributes")
            expected.append((str(name), "" if value is None else str(value)))
        return Attributes(tuple(expected))
    return MatchAll()


def _compile(spec: Any, where: str) -> Filter:
    if not isinstance(spec, Mapping) or not spec:
        raise FilterError(f"{where}: a filter must be a mapping with exactly one dialect")
    dialects = [k for k in spec if spec[k] not in (None, {}, [], "")]
    unknown = [k for k in spec if k not in _DIALECTS]
    if unknown:
        raise FilterError(f"{where}: unknown filter dialect {unknown[0]!r}; "
                          f"expected one of {', '.join(_DIALECTS)}")
    if len(dialects) != 1:
        # Knative's webhook: "expected exactly one, got both/neither".
        raise FilterError(f"{where}: expected exactly one filter dialect, got {len(dialects)}")
    dialect = dialects[0]
    body = spec[dialect]
    if dialect == "cesql":
        raise FilterError(f"{where}: the cesql filter dialect is not supported by the local "
                          "broker; express it with exact/prefix/suffix/not/any/all")
    if dialect in _COMPARE:
        return _compile_compare(dialect, body, f"{where}.{dialect}")
    if dialect == "not":
        return Not(_compile(body, f"{where}.not"))
    if not isinstance(body, Sequence) or isinstance(body, str | bytes):
        raise FilterError(f"{where}.{dialect}: must be a list of filters")
    inner = tuple(_compile(f, f"{where}.{dialect}[{i}]") for i, f in enumerate(body))
    return AnyOf(inner) if dialect == "any" else AllOf(inner)


def _compile_compare(dialect: str, body: Any, where: str) -> Compare:
    if not isinstance(body, Mapping):
        raise FilterError(f"{where}: must be a mapping of one attribute to a value")
    if len(body) != 1:
        # The webhook allows a single key-value pair per entry; AND them with several entries.
        raise FilterError(f"{where}: exactly one attribute per entry, got {len(body)}")
    (name, value), = body.items()
    _check_name(name, where)
    if value is None or str(value) == "":
        raise FilterError(f"{where}: the value for {name!r} must not be empty")
    return Compare(dialect, str(name), str(value))


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name):
        raise FilterError(f"{where}: {name!r} is not a CloudEvents attribute name "
                          "(lowercase letters and digits)")
