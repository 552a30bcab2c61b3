"""The PromQL in runbooks: found in ```promql blocks, checked when indexed, run by the router.

A runbook's "How to confirm" section lists queries a responder (and the router, with the
alert's labels in place of `$NS`, `$POD`...) runs. A typo there would only show during an
incident, so indexing fails on a query that does not parse, naming the runbook and the line.

No PromQL parser library is used: the well-kept ones are bindings to native code, and this
check needs only the grammar's shape (tokens, nesting, operand/operator order, label matchers,
range and subquery selectors, known function names), which a recursive-descent pass over the
tokens covers. Prometheus still has the last word on semantics (types, argument counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^```[ \t]*(\S*)[ \t]*$")
# A line opening with a binary operator continues the query above it (`-` and `+` excepted: they
# may as well start a new, negated query).
_CONTINUES = re.compile(r"\s*(?:[*/%^]|[=!<>]=|[<>](?!=)|(?i:and|or|unless)\b)")
_PLACEHOLDER = re.compile(r"\$([A-Z][A-Z0-9_]*)")

AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum",
    "holt_winters", "double_exponential_smoothing", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
    "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
    "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sort_by_label",
    "sort_by_label_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time",
    "tan", "tanh", "time", "timestamp", "vector", "year"})
_BINARY = frozenset({"+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">=",
                     "and", "or", "unless", "atan2"})
_COMPARISON = frozenset({"==", "!=", "<", ">", "<=", ">="})
_KEYWORDS = AGGREGATIONS | {"and", "or", "unless", "atan2", "by", "without", "on", "ignoring",
                            "group_left", "group_right", "bool", "offset", "start", "end"}
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?:[iI]nf|[nN]a[nN])(?![\w:]))
  | (?P<ident>(?:[a-zA-Z_]|:(?=[a-zA-Z_]))[a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=,(){}\[\]:@])
""", re.VERBOSE)


class PromQLError(ValueError):
    """A query that does not parse; the message says where (`at_end`: it stops too early)."""

    def __init__(self, message: str, *, at_end: bool = False) -> None:
        super().__init__(message)
        self.at_end = at_end


@dataclass(frozen=True)
class Query:
    """One query of a runbook's promql block, and its first line in the file's body."""

    text: str
    line: int

    @property
    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.text))


def queries(body: str) -> list[Query]:
    """The queries of every ```promql block: one per line, continued by an indented line, by a
    line that opens with a binary operator (`/ sum(...)`, `and on() ...`), or by any line while
    the query so far stops short (how runbooks wrap a long ratio)."""
    out: list[Query] = []
    inside = False
    current: list[str] = []
    start = 0

    def flush() -> None:
        if current:
            out.append(Query("\n".join(current).strip(), start))
            current.clear()

    for n, line in enumerate(body.splitlines(), start=1):
        fence = _FENCE.match(line.strip())
        if fence is not None:
            if inside:
                flush()
                inside = False
            else:
                inside = fence.group(1).lower() == "promql"
            continue
        if not inside or not line.strip() or line.lstrip().startswith("#"):
            continue
        if current and (line[:1] in (" ", "\t") or _CONTINUES.match(line)
                        or _incomplete("\n".join(current))):
            current.append(line)
        else:
            flush()
            current.append(line)
            start = n
    flush()
    return out


def check(query: str) -> None:
    """Raise `PromQLError` when `query` is not PromQL (placeholders count as label values or
    names, as the router substitutes them)."""
    _Parser(_tokens(_PLACEHOLDER.sub(lambda m: "placeholder_" + m.group(1).lower(),
                                     query))).parse()


def _incomplete(query: str) -> bool:
    try:
        check(query)
    except PromQLError as e:
        return e.at_end
    return False


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PromQLError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind, value = m.lastgroup or "", m.group()
        if kind == "ident" and value.lower() in _KEYWORDS:
            value = value.lower()  # Prometheus' lexer reads keywords in any case: `BY`, `Sum`
        if kind not in ("ws", "comment"):
            out.append((kind, value, pos + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str, int]:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else ("end", "", -1)

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            self.fail(f"expected {value or kind}")
        self.i += 1
        return tok

    def fail(self, what: str) -> None:
        kind, value, col = self.peek()
        where = "at the end" if kind == "end" else f"at column {col} ({value!r})"
        raise PromQLError(f"{what} {where}", at_end=kind == "end")

    def parse(self) -> None:
        if not self.toks:
            raise PromQLError("empty query")
        self.expr()
        if self.peek()[0] != "end":
            self.fail("unexpected token")

    def expr(self) -> None:
        self.unary()
        while self.peek()[1] in _BINARY and self.peek()[0] in ("op", "ident"):
            op = self.take()[1]
            if op in _COMPARISON and self.peek()[1] == "bool":
                self.take()
            if self.peek()[1] in ("on", "ignoring"):
                self.take()
                self.labels()
            if self.peek()[1] in ("group_left", "group_right"):
                self.take()
                if self.peek()[1] == "(":
                    self.labels()
            self.unary()

    def unary(self) -> None:
        while self.peek()[1] in ("+", "-"):
            self.take()
        # Ranges follow selectors (or any expression, as a subquery: `[1h:5m]`); offset and @
        # follow selectors, ranges and subqueries only, as in Prometheus' grammar.
        shape = self.primary()
        while True:
            value = self.peek()[1]
            if value == "[" and shape != "range":
                self.take()
                self.take(kind="duration")
                if self.peek()[1] == ":":
                    self.take()
                    if self.peek()[0] == "duration":
                        self.take()
                elif shape != "selector":
                    self.fail("a range needs a selector (or `:step` for a subquery)")
                self.take("]")
                shape = "range"
            elif value == "offset" and shape in ("selector", "range"):
                self.take()
                if self.peek()[1] == "-":
                    self.take()
                self.take(kind="duration")
            elif value == "@" and shape in ("selector", "range"):
                self.take()
                if self.peek()[1] in ("start", "end"):
                    self.take()
                    self.take("(")
                    self.take(")")
                else:
                    self.take(kind="number")
            else:
                return

    def primary(self) -> str:
        """Parse one operand; its shape: `selector` or `other`."""
        kind, value, _ = self.peek()
        if kind in ("number", "string", "duration"):
            self.take()
        elif value == "(":
            self.take()
            self.expr()
            self.take(")")
        elif value == "{":
            self.matchers()
            return "selector"
        elif kind == "ident" and value in AGGREGATIONS and self.peek(1)[1] in (
                "(", "by", "without"):
            self.take()
            if self.peek()[1] in ("by", "without"):
                self.take()
                self.labels()
            self.args()
            if self.peek()[1] in ("by", "without"):
                self.take()
                self.labels()
        elif kind == "ident" and self.peek(1)[1] == "(":
            if value not in FUNCTIONS:
                self.fail("unknown function")
            self.take()
            self.args()
        elif kind == "ident":
            self.take()
            if self.peek()[1] == "{":
                self.matchers()
            return "selector"
        else:
            self.fail("expected a number, string, selector, function or (")
        return "other"

    def args(self) -> None:
        self.take("(")
        if self.peek()[1] != ")":
            self.expr()
            while self.peek()[1] == ",":
                self.take()
                self.expr()
        self.take(")")

    def labels(self) -> None:
        self.take("(")
        while self.peek()[1] != ")":
            self.take(kind="ident")
            if self.peek()[1] != ",":
                break
            self.take()
        self.take(")")

    def matchers(self) -> None:
        self.take("{")
        while self.peek()[1] != "}":
            self.take(kind="ident" if self.peek()[0] != "string" else "string")
            if self.peek()[1] not in _MATCH_OPS:
                self.fail("expected a label matcher (=, !=, =~, !~)")
            self.take()
            self.take(kind="string")
            if self.peek()[1] != ",":
                break
            self.take()
        self.take("}")


def check_body(body: str, *, first_line: int = 1) -> list[str]:
    """One message per bad query of a runbook body, `line N: <error>: <query>` (lines counted
    in the file when `first_line` is where the body starts)."""
    problems = []
    for q in queries(body):
        try:
            check(q.text)
        except PromQLError as e:
            shown = " ".join(q.text.split())
            problems.append(f"line {q.line + first_line - 1}: PromQL {e}: {shown[:160]}")
    return problems


@dataclass(frozen=True)
class Comparison:
    """`<lhs> <op> <number>` at the top of an alert rule: what it measures and where it fires."""

    lhs: str
    op: str
    value: float

    def fires(self, v: float) -> bool:
        """Whether `v` is on the firing side of the threshold."""
        return {"==": v == self.value, "!=": v != self.value, ">": v > self.value,
                "<": v < self.value, ">=": v >= self.value, "<=": v <= self.value}[self.op]

    def describe(self) -> str:
        return f"{self.op} {self.value:g}"


def top_comparison(expr: str) -> Comparison | None:
    """The rule's last top-level filter comparison against a number (`rate(x[5m]) > 0.1`),
    or None (`absent(x)`, `a > b`, `x > bool 1`, or a query that does not tokenize)."""
    try:
        toks = _tokens(expr)
    except PromQLError:
        return None
    depth, last = 0, -1
    for n, (kind, value, _) in enumerate(toks):
        if value in ("(", "{", "["):
            depth += 1
        elif value in (")", "}", "]"):
            depth -= 1
        elif depth == 0 and kind == "op" and value in _COMPARISON:
            last = n
        elif depth == 0 and kind == "ident" and value in ("and", "or", "unless"):
            return None  # binds looser than the comparison: not a plain threshold
    if last <= 0 or last + 2 != len(toks) or toks[last + 1][0] != "number":
        return None
    try:
        number = float(toks[last + 1][1]) if not toks[last + 1][1].lower().startswith("0x") \
            else float(int(toks[last + 1][1], 16))
    except ValueError:
        return None
    lhs = expr[:toks[last][2] - 1].strip()
    return Comparison(lhs=lhs, op=toks[last][1], value=number)
