"""The policy's JSON Schema, exported from the pydantic model: one source for three readers.

Editors validate a policy file against it (`orchestrator policy schema > policy.schema.json`),
the Helm chart's `values.schema.json` carries it verbatim under `executor.policy` (a test keeps
them equal; `python -m orchestrator.act.policy_schema helm/orchestrator/values.schema.json`
rewrites that block in place, touching nothing else), and the executor validates with the model
itself. Helm resolves no `$ref` across documents, so the definitions are inlined; an action's
fields are all optional in a file (the executor fills the rest from the action's defaults).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from orchestrator.act.policy import Policy

SCHEMA_ID = "https://incident-orchestrator.dev/schemas/policy.json"


def policy_schema() -> dict[str, Any]:
    """The policy file's JSON Schema (draft 2020-12 keywords that draft-07 readers share)."""
    raw = Policy.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _strip_titles(_inline(raw, defs))
    action = schema["properties"]["actions"]["additionalProperties"]
    action.pop("required", None)  # filled from ACTION_SPECS by Policy._fill_actions
    return schema


def policy_schema_json() -> str:
    return json.dumps(policy_schema(), indent=2, sort_keys=True) + "\n"


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **_inline(rest, defs)}
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _strip_titles(node: Any) -> Any:
    """pydantic titles every field with its name: noise in an editor's hover."""
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def splice(values_schema: str, schema: dict[str, Any]) -> str:
    """`values_schema` with the block of `executor.policy` replaced by `schema`, indented as it
    was; the rest of the file byte for byte."""
    executor = values_schema.index('"executor": {')
    m = re.compile(r'\n( *)"policy": \{').search(values_schema, executor)
    if m is None:
        raise ValueError("values.schema.json has no executor.policy block")
    start, depth = m.end() - 1, 0
    for end in range(start, len(values_schema)):
        depth += {"{": 1, "}": -1}.get(values_schema[end], 0)
        if depth == 0:
            break
    body = json.dumps(schema, indent=2, sort_keys=True).replace("\n", "\n" + m.group(1))
    return values_schema[:start] + body + values_schema[end + 1:]


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(splice(target.read_text(encoding="utf-8"), policy_schema()),
                      encoding="utf-8")
