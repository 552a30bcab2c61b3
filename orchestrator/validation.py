"""Pydantic validation errors as the messages a 4xx (or a refused config file) carries.

One formatter for every input model (ingest's webhook and manual trigger, the eventing YAML): each
problem names its field, says what was expected and what it got, never the whole input.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def kind(value: Any) -> str:
    """A JSON value's kind, as a message names it."""
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null",
            int: "int", float: "number"}.get(type(value), type(value).__name__)


_EXPECTED = {"string_type": "a string", "dict_type": "an object", "list_type": "a list",
             "int_type": "an integer", "bool_type": "a boolean", "model_type": "an object",
             "model_attributes_type": "an object"}
_BOUNDS = {"greater_than": "greater than", "greater_than_equal": "at least",
           "less_than": "less than", "less_than_equal": "at most"}


def problem(e: ValidationError, what: str, *, within: bool = False) -> str:
    """The first errors of a validation, each naming its field (`what` when it is the whole;
    `within`: fields are named under it, as `data.labels`)."""
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in ([what] if within else []) + list(err["loc"])) or what
        kind_of = err["type"]
        if kind_of in _EXPECTED:
            parts.append(f"{where} must be {_EXPECTED[kind_of]}, got {kind(err['input'])}")
        elif kind_of == "missing":
            parts.append(f"{where} is required")
        elif kind_of == "extra_forbidden":
            parts.append(f"unexpected field {where!r}")
        elif kind_of in _BOUNDS:
            parts.append(f"{where} must be {_BOUNDS[kind_of]} {next(iter(err['ctx'].values()))}")
        elif kind_of == "literal_error":
            parts.append(f"{where} must be {err['msg'].removeprefix('Input should be ')}, got "
                         f"{err['input']!r}")
        elif kind_of == "value_error":
            parts.append(f"{where} {err['msg'].removeprefix('Value error, ')}")
        else:
            parts.append(f"{where}: {err['msg']}")
    more = len(e.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
