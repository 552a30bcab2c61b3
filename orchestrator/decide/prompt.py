"""Prompt templates (orchestrator/prompts/*.md), loaded and filled by one function: `render`.

Every value filled in is data (alert text, context, runbook text: all of it could have been
written by an attacker), so `render` neutralises the section delimiters inside values: text that
contains `>>>` cannot close its data section and speak as the prompt.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from string import Template

_DELIMITER = re.compile(r"<{3,}|>{3,}")


def neutralise(text: str) -> str:
    """Break up runs of 3+ angle brackets so data cannot open or close a section."""
    return _DELIMITER.sub(lambda m: " ".join(m.group()), text)


@functools.cache
def _template(name: str) -> Template:
    source = resources.files("orchestrator.prompts").joinpath(f"{name}.md")
    return Template(source.read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """The template `name` with each `${key}` replaced by its (neutralised) value.

    A placeholder without a value is a programming error and raises KeyError.
    """
    return _template(name).substitute({k: neutralise(str(v)) for k, v in values.items()})
