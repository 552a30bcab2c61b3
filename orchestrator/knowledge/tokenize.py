"""Tokens for sparse retrieval: how alert text and runbook text are made comparable.

Alerts and runbooks name the same things differently: `KubePodCrashLooping` in an alertname,
"crash-looping" in prose, `kube_pod_container_status_restarts_total` in a PromQL expression,
`CrashLoopBackOff` in a reason label. So identifiers are split at camelCase, snake_case and
kebab-case boundaries, each part lightly stemmed ("restarting", "restarts" → "restart"), and a
short identifier also kept whole, so an exact identifier still outweighs its parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Runs of letters/digits joined by `_`, `-`, `.`, `/`, `:` form one identifier-like word.
_WORD = re.compile(r"[A-Za-z0-9]+(?:[_\-./:][A-Za-z0-9]+)*")
# camelCase and acronym boundaries: "HTTPErrorRate" → HTTP Error Rate, "OOMKilled" → OOM Killed.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+[a-z]*")
_SEP = re.compile(r"[_\-./:]")
_OPAQUE = re.compile(r"^(?=.{5,}$)[a-z0-9]*[0-9][a-z]+[0-9]")
_NUMERIC = re.compile(r"^[0-9]+(?:[_\-./:][0-9]+)*$")

STOP_WORDS = frozenset({
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "either",
    "else", "etc", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
    "here", "hers", "him", "his", "how", "however", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "may", "me", "might", "more", "most", "must", "my", "no", "nor", "not",
    "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own",
    "per", "same", "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "thus", "to",
    "too", "under", "until", "up", "upon", "us", "very", "via", "was", "we", "were", "what",
    "when", "where", "which", "while", "who", "whom", "why", "will", "with", "within", "without",
    "would", "yet", "you", "your", "https", "www", "com", "io", "org", "html", "md", "e", "g",
    "eg", "ie",
})

_VOWEL = re.compile(r"[aeiou]")
_DERIVATIONS = (
    ("ational", "ate"), ("ization", "ize"), ("ation", "ate"), ("iveness", "ive"),
    ("fulness", "ful"), ("ousness", "ous"), ("ness", ""), ("ment", ""), ("ity", ""),
    ("sion", "s"), ("tion", "t"),
)
# Longer joined identifiers are opaque names (pods, hashes), not vocabulary worth keeping whole.
_MAX_WHOLE = 40


def stem(word: str) -> str:
    """A light Porter-style suffix stripper; it only has to make both sides agree."""
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("sses") or w.endswith("ies") and len(w) > 4:
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: -len(suffix)]
            if not _VOWEL.search(base):
                break
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # running → run, stopped → stop
            w = base
            break
    for suffix, repl in _DERIVATIONS:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + repl
            break
    if w.endswith("ate") and len(w) > 6:
        w = w[:-3]  # certificate/certification, validate/validation meet
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]  # restore/restoring meet
    if w.endswith("y") and len(w) > 3 and _VOWEL.search(w[:-1]):
        w = w[:-1] + "i"  # ready/readiness, memory/memories meet
    return w


def _parts(word: str) -> tuple[list[str], bool]:
    """(parts, opaque): `opaque` when the word carries a generated name (pod hash, uid)."""
    pieces = _SEP.split(word)
    opaque = any(_OPAQUE.match(p.lower()) or (p.isdigit() and len(p) >= 5) for p in pieces)
    out: list[str] = []
    for piece in pieces:
        if opaque and any(c.isdigit() for c in piece):
            continue  # random fragments are never vocabulary
        if piece.islower() or piece.isdigit():
            out.append(piece)  # "k8s", "5xx", "kubelet": nothing to split
        else:
            out += _CAMEL.findall(piece) or [piece]
    return out, opaque


def tokens(text: str, *, joined: bool = True) -> Iterator[str]:
    """Yield the index terms of `text`, in order; repeats are kept (term frequency matters).

    `joined=False` leaves out the whole form of split identifiers (`kubepodcrashlooping`):
    it is there to reward an exact identifier in ranking, and says nothing its parts do not.
    """
    for m in _WORD.finditer(text):
        word = m.group(0)
        if _NUMERIC.match(word):
            # Addresses, times, versions, percentages are noise; a lone 3-digit number is
            # usually an HTTP status or an exit code (500, 137) and worth keeping.
            if word.isdigit() and len(word) == 3:
                yield word
            continue
        found, opaque = _parts(word)
        parts = [p.lower() for p in found]
        whole = _SEP.sub("", word).lower()
        if joined and len(parts) > 1 and 4 <= len(whole) <= _MAX_WHOLE and not opaque:
            yield whole
        for p in parts:
            if p in STOP_WORDS or len(p) < 2 or p.isdigit():
                continue
            yield stem(p)


def plain_words(text: str) -> list[str]:
    """Every word part of `text`, lowercased and stemmed, stop words included: for comparing
    names, where "Down" or "Not" is half the meaning (`KubeProxyDown`, `KubeNodeNotReady`)."""
    out = []
    for m in _WORD.finditer(text):
        found, _ = _parts(m.group(0))
        out += [stem(p.lower()) for p in found if not p.isdigit()]
    return out
