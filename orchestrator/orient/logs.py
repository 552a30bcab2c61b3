"""Log tails: the last lines of a container (and of its previous instance), bounded and redacted.

The whole text is redacted before it is split, so a private key or a JSON blob spread over
several lines is caught as one; then lines are cut to a width and the tail to a line count.
`limitBytes` is only a guard against a runaway line: the API applies it after `tailLines`, so
it cuts the newest end; the router asks for generously many bytes and trims lines itself.
"""

from __future__ import annotations

from orchestrator.context import LogTail
from orchestrator.orient.fields import Scrubber


def tail(text: str, *, namespace: str, pod: str, container: str, previous: bool,
         scrub: Scrubber, max_lines: int, max_line_chars: int, limit_bytes: int) -> LogTail:
    where = f"logs of {namespace}/{pod}/{container}{' (previous)' if previous else ''}"
    clean = scrub.raw(text, where)
    lines = clean.splitlines()
    # The API applies limitBytes after tailLines: a stream that hit it lost its newest end,
    # maybe mid-line, and that partial last line is noise.
    truncated = len(text.encode("utf-8", "replace")) >= limit_bytes
    if truncated and lines:
        lines = lines[:-1]
    if len(lines) > max_lines:
        lines, truncated = lines[-max_lines:], True
    out = []
    for line in lines:
        if len(line) > max_line_chars:
            line, truncated = line[:max_line_chars] + "…", True
        out.append(line)
    return LogTail(pod=pod, container=container, previous=previous, lines=out,
                   truncated=truncated)
