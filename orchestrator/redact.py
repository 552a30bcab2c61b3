"""Secret redaction for free text that leaves a function: logs, messages, annotations.

The router's context goes to an LLM and into the audit log, so tokens, passwords, private keys
and cloud credentials are replaced by `[REDACTED:<kind>]` before an event is built. Rules are
ordered from the most specific shape (a PEM block, a JWT, a vendor's token prefix) to the most
generic (`password=...`), and a value already redacted is never matched again, so redacting
twice changes nothing and counts nothing.

A redaction is reported by its kind only; the secret itself is never returned, logged or stored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MARK = "[REDACTED:{}]"
_DONE = r"(?!\[REDACTED)"

# Names that say "the value next to me is a secret" (matched case-insensitively, as a substring
# of the key, so DB_PASSWORD, x-api-key and clientSecret all count).
_SENSITIVE = (
    r"pass(?:word|wd|phrase)|(?<![a-z])pass(?![a-z])|pgpass(?!file)|pwd|secret|token|"
    r"api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|credentials?|auth[_-]?key|session[_-]?(?:id|key)|cookie|signature|"
    r"account[_-]?key|shared[_-]?access[_-]?key|encryption[_-]?key|master[_-]?key|"
    r"key[_-]?data|connection[_-]?string|dsn"
)
_KEY = rf"[A-Za-z0-9_.-]*(?:{_SENSITIVE})[A-Za-z0-9_.-]*"
# Patterns below are sources, compiled on first use (`_compiled`): a function that never meets
# a secret-looking name compiles none of them.
_NAME = rf"(?i)(?:{_SENSITIVE})"
# A name that ends in the secret word (`DB_PASSWORD`, `pin_token`) holds the secret itself; one
# that goes on (`password_min_length`, `token_ttl`) holds a parameter about it.
_ENDS_SECRET = rf"(?i)(?:{_SENSITIVE})[\"'-]*$"
# Values next to a secret-looking name that are not secrets: flags, placeholders, a YAML block
# indicator (`password: |`, whose lines the block rule takes).
_HARMLESS = (r"(?i)^(?:true|false|null|none|nil|yes|no|on|off|\*+|x+|<[^>]*>|"
             r"[|>][0-9+-]*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|redacted|masked|hidden|-+)$")
# A small number is a setting (`token_ttl=300`) unless the name ends in the secret word: then it
# is a PIN or a numeric password (`DB_PASSWORD=123456`).
_NUMBER = r"^\d{1,7}$"
# Label names that hold the *name* of a Secret or token object, which identifies, not unlocks.
_OBJECT_NAME = r"(?i)^(?:secrets?|.*name)$"

_SCHEMES = r"(?:bearer|basic|token|digest|negotiate|apikey|sso-key)"

NAMED = None
"""A rule's needle when its pattern matches only next to a secret-looking name (`_NAME`)."""


@dataclass(frozen=True)
class Rule:
    """One secret shape. `needles`: literal strings one of which any match contains (or NAMED),
    so a text holding none of them is not searched and the pattern is not even compiled:
    compiling all of them took longer than a function's whole first redaction."""

    kind: str
    needles: tuple[str, ...] | None
    source: str
    group: int
    """The group replaced; 0 = the whole match."""

    def may_match(self, text: str) -> bool:
        if self.needles is NAMED:
            return _compiled(_NAME).search(text) is not None
        if self.source.startswith("(?i)"):  # the needle matches as the pattern does: any case
            return any(_folded(n).search(text) is not None for n in self.needles)
        return any(n in text for n in self.needles)

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.source)


@functools.cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source)


@functools.cache
def _folded(needle: str) -> re.Pattern[str]:
    """A literal matched in any case, exactly as the pattern's `(?i)` matches it."""
    return re.compile(re.escape(needle), re.IGNORECASE)


def _rules() -> list[Rule]:
    """Ordered from the most specific shape to the most generic (see the module docstring)."""
    def r(kind: str, needles: tuple[str, ...] | None, pattern: str, group: int = 0) -> Rule:
        return Rule(kind, needles, pattern, group)

    pem_label = r"[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?"
    aws = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA")
    return [
        # A private key block, whole; also one cut off by a log tail (no END), and the
        # JSON-escaped form of a GCP service-account key ("-----BEGIN PRIVATE KEY-----\n...").
        r("private-key", ("-----BEGIN",),
          rf"-----BEGIN {pem_label}-----[\s\S]*?(?:-----END {pem_label}-----|\Z)"),
        r("private-key", ("-----END",),
          rf"(?:[A-Za-z0-9+/=]{{16,}}(?:\\n|\r?\n))+-----END {pem_label}-----"),
        r("private-key", ("LS0tLS1CRUdJTi",),  # base64 of "-----BEGIN"
          r"\bLS0tLS1CRUdJTi[A-Za-z0-9+/=]{16,}"),
        r("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        r("url-password", ("://",),
          rf"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]*:{_DONE}([^\s@/\"'<>]+)@", 1),
        r("authorization", ("authorization",),
          rf"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
          rf"(?:{_SCHEMES}\s+|(?!{_SCHEMES}\s)){_DONE}([^\s\"',;]+)", 1),
        r("bearer-token", ("bearer",), rf"(?i)\bbearer\s+{_DONE}([A-Za-z0-9._~+/=-]{{16,}})", 1),
        r("aws-access-key-id", aws, rf"\b(?:{'|'.join(aws)})[0-9A-Z]{{16}}\b"),
        r("gcp-api-key", ("AIza",), r"\bAIza[0-9A-Za-z_-]{35}"),
        r("gcp-oauth-secret", ("GOCSPX-",), r"\bGOCSPX-[A-Za-z0-9_-]{20,}"),
        r("gcp-access-token", ("ya29.",), r"\bya29\.[0-9A-Za-z_-]{20,}"),
        r("azure-sas-signature", ("sig=",), rf"(?i)[?&;]sig={_DONE}([^&\s\"';]+)", 1),
        r("azure-client-secret", ("Q~",), r"\b[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}"),
        r("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
          r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
        r("gitlab-token", ("glpat-", "gldt-", "glrt-", "glptt-", "glsoat-"),
          r"\b(?:glpat|gldt|glrt|glptt|glsoat)-[A-Za-z0-9_-]{20,}"),
        r("slack-token", ("xox", "xapp-"),
          r"\bxox[abposr]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{10,}"),
        r("slack-webhook", ("hooks.slack.com/services/",),
          r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9/_-]{10,}"),
        r("stripe-key", ("sk_", "rk_", "whsec_"),
          r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{20,}"),
        r("llm-api-key", ("sk-",), r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        r("npm-token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
        r("pypi-token", ("pypi-AgE",), r"\bpypi-AgE[A-Za-z0-9_-]{40,}"),
        r("sendgrid-key", ("SG.",), r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,}"),
        r("vault-token", ("hvs.", "hvb.", "hvr."), r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
        r("docker-token", ("dckr_pat_",), r"\bdckr_pat_[A-Za-z0-9_-]{20,}"),
        r("huggingface-token", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}"),
        r("digitalocean-token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"\bdo[por]_v1_[a-f0-9]{64}"),
        r("mailgun-key", ("key-",), r"\bkey-[0-9a-f]{32}\b"),
        r("docker-auth", ('"auth"',), rf"\"auth\"\s*:\s*\"{_DONE}([A-Za-z0-9+/=]{{8,}})\"", 1),
        # A YAML block scalar under a secret name (`password: |` and the lines indented below).
        # Its lines are those indented deeper than the key, blank lines between them included.
        r("secret-value", NAMED,
          rf"(?im)^([ \t]*)(?:-[ \t]+)?[\"']?(?P<key>{_KEY})[\"']?[ \t]*:[ \t]*"
          rf"{_DONE}([|>][0-9+-]*[ \t]*(?:#[^\n]*)?"
          rf"(?:(?:\n[ \t]*(?=\n))*\n\1[ \t]+[^\n]*)+)", 3),
        # MySQL/MariaDB clients take the password glued to -p (`mysql -uroot -pS3cret db`).
        r("secret-value", ("mysql", "mariadb"),
          r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|"
          rf"mysqlslap|mariadb|mariadb-dump|mariadb-admin)\b[^\n|;&]*?\s-p['\"]?{_DONE}"
          r"([^\s'\"]+)", 1),
        # Generic: a secret-looking name, then `=`, `:` (also URL-encoded: %3D, %3A) or a space
        # after a --flag, then a value.
        r("secret-value", NAMED, rf"(?i)(?<![A-Za-z0-9])(?P<key>{_KEY})[\"']?\s*[:=]>?\s*([\"'])"
          rf"{_DONE}((?:\\.|(?!\2)[^\n])+)\2", 3),
        r("secret-value", NAMED,
          rf"(?i)(?<![A-Za-z0-9])(?P<key>{_KEY})[\"']?\s*(?:[:=]>?|%3[ad])\s*"
          rf"{_DONE}((?:(?!%2[6c])[^\s\"',;&<>{{}}()\[\]])+)", 2),
        r("secret-value", NAMED,
          rf"(?i)(?<![A-Za-z0-9])--(?P<key>{_KEY})\s+{_DONE}([^\s\"'-][^\s\"']*)", 2),
    ]


_RULES = _rules()


def _substitute(text: str, rule: Rule, found: list[str]) -> str:
    kind, group = rule.kind, rule.group

    def replace(m: re.Match[str]) -> str:
        if group == 0:
            found.append(kind)
            return MARK.format(kind)
        value = m.group(group)
        key = m.groupdict().get("key") or ""
        if kind == "secret-value" and harmless(key, value):
            return m.group(0)
        found.append(kind)
        start, end = m.start(group) - m.start(0), m.end(group) - m.start(0)
        whole = m.group(0)
        return whole[:start] + MARK.format(kind) + whole[end:]

    return rule.pattern.sub(replace, text)


def harmless(key: str, value: str) -> bool:
    """Whether a value under a secret-looking name is a flag, a placeholder or a setting."""
    value = value.strip()
    if _compiled(_HARMLESS).match(value):
        return True
    return bool(_compiled(_NUMBER).match(value)) and not _compiled(_ENDS_SECRET).search(
        key.rsplit("/", 1)[-1])


def scan(text: str) -> tuple[str, list[str]]:
    """The text with every secret replaced, and the kind of each redaction made (in order)."""
    found: list[str] = []
    if not text:
        return text, found
    for rule in _RULES:
        if rule.may_match(text):
            text = _substitute(text, rule, found)
    return text, found


def redact(text: str) -> tuple[str, int]:
    """The text with every secret replaced, and how many were replaced."""
    clean, found = scan(text)
    return clean, len(found)


def secret_name(name: str) -> bool:
    """Whether a key or variable name says its value is a secret (`DB_PASSWORD`, `x-api-key`)."""
    return bool(_compiled(_NAME).search(name))


def redact_mapping(values: Mapping[str, str],
                   on_found: Callable[[str, list[str]], None] | None = None) -> dict[str, str]:
    """Redact every value of a mapping (labels, annotations, headers).

    A value whose key names a secret is replaced whole, whatever it looks like (a key named
    `api-token` holding an opaque string matches no shape). `on_found(key, kinds)` is told what
    was redacted under each key, so the caller can record where without seeing the secret.
    """
    return _mapping(values, on_found, whole=lambda key: secret_name(key.rsplit("/", 1)[-1]))


def redact_labels(labels: Mapping[str, str],
                  on_found: Callable[[str, list[str]], None] | None = None) -> dict[str, str]:
    """Redact an alert's labels, keeping the ones that identify things usable.

    Every value is scanned for secret shapes (`instance="https://svc:S3cret@db:5432"` keeps
    its host); a value under a secret-looking name (`db_password`) is replaced whole, except
    under names that hold an object's *name* (`secret`, `secret_name`: kube-state-metrics'
    labels), which identify a Secret rather than unlock it.
    """
    def whole(key: str) -> bool:
        return secret_name(key) and not _compiled(_OBJECT_NAME).match(key)

    return _mapping(labels, on_found, whole=whole)


def _mapping(values: Mapping[str, str], on_found: Callable[[str, list[str]], None] | None, *,
             whole: Callable[[str], bool]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        text = value if isinstance(value, str) else str(value)
        if whole(key) and text and not harmless(key, text) and not text.startswith("[REDACTED"):
            clean, kinds = MARK.format("secret-value"), ["secret-value"]
        else:
            clean, kinds = scan(text)
        out[key] = clean
        if kinds and on_found is not None:
            on_found(key, kinds)
    return out


def summarize(kinds: list[str]) -> str:
    """`jwt×2, url-password` for a list of kinds, for recording where redactions happened."""
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(k if n == 1 else f"{k}×{n}" for k, n in counts.items())
