"""Runbooks cut into retrievable pieces: one chunk per section (`#`/`##` heading).

A plan cites a chunk, not a whole file, so the reviewer sees the paragraph the plan stands on.
Each chunk carries its runbook's id, title and alerts: a section such as "How to confirm" means
little on its own, and the runbook's name is often the strongest word in it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from orchestrator.knowledge.runbook import Runbook
from orchestrator.models import Frozen

_HEADING = re.compile(r"^(#{1,2})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_SLUG = re.compile(r"[^a-z0-9]+")
# Sections longer than this are cut at paragraph breaks: embedding models truncate long input,
# and a citation should point at something a human can read in one glance.
MAX_CHARS = 3000
_POINT_NS = uuid.UUID("6f1c1f5e-3a52-4d8e-9a57-2b1f0c8a9e11")


class Chunk(Frozen):
    chunk_id: str
    """`<runbook id>#<heading slug>[-n]`: stable while the heading stays."""
    runbook: str
    title: str
    name: str
    heading: str
    text: str
    alerts: list[str] = []
    content_hash: str
    position: int

    @property
    def point_id(self) -> str:
        """The Qdrant point id (a UUID derived from the chunk id)."""
        return str(uuid.uuid5(_POINT_NS, self.chunk_id))

    def payload(self) -> dict[str, Any]:
        """What the index stores beside the vectors (and what a search hit is built from)."""
        return {"kind": "chunk", "chunk_id": self.chunk_id, "runbook": self.runbook,
                "title": self.title, "heading": self.heading, "text": self.text,
                "alerts": list(self.alerts), "content_hash": self.content_hash,
                "position": self.position}


def _sections(body: str, title: str) -> list[tuple[str, str]]:
    sections: list[tuple[str, list[str]]] = [(title, [])]
    fenced = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m and len(m.group(1)) == 1 and not sections[-1][1] and len(sections) == 1:
            # A leading `# Title` names the whole runbook; its text joins the first section.
            sections[0] = (m.group(2).strip(), [])
            continue
        if m:
            sections.append((m.group(2).strip(), []))
        else:
            sections[-1][1].append(line)
    out = [(h, "\n".join(lines).strip()) for h, lines in sections]
    return [(h, t) for h, t in out if t]


def _split_long(text: str) -> list[str]:
    if len(text) <= MAX_CHARS:
        return [text]
    parts: list[str] = []
    current = ""
    for para in re.split(r"\n[ \t]*\n", text):
        if current and len(current) + len(para) + 2 > MAX_CHARS:
            parts.append(current)
            current = para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current:
        parts.append(current)
    return parts


def _slug(heading: str) -> str:
    return _SLUG.sub("-", heading.lower()).strip("-") or "section"


def chunk_runbook(rb: Runbook) -> list[Chunk]:
    """The runbook's chunks in document order; a runbook with an empty body gets one chunk."""
    pieces: list[tuple[str, str]] = []
    for heading, text in _sections(rb.body, rb.title):
        pieces += [(heading, part) for part in _split_long(text)]
    if not pieces:
        pieces = [(rb.title, rb.title)]
    seen: dict[str, int] = {}
    chunks = []
    for position, (heading, text) in enumerate(pieces):
        slug = _slug(heading)
        seen[slug] = seen.get(slug, 0) + 1
        suffix = f"-{seen[slug]}" if seen[slug] > 1 else ""
        chunks.append(Chunk(
            chunk_id=f"{rb.id}#{slug}{suffix}", runbook=rb.id, title=rb.title, name=rb.name,
            heading=heading, text=text, alerts=rb.alerts, content_hash=rb.content_hash,
            position=position,
        ))
    return chunks
