"""Validate a ``where:`` filter (a Spark SQL boolean expression) without Spark.

A small tokenizer checks quotes and parentheses, and that every bare identifier is either a declared
source column, a SQL keyword, or a known scalar function followed by ``(``. It is deliberately a
checker, not a full SQL parser: Spark still compiles the expression, but typos are caught before a job
starts, with the offending name in the message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

KEYWORDS = frozenset({
    "and", "or", "not", "in", "is", "null", "like", "ilike", "rlike", "regexp", "between", "true", "false",
    "case", "when", "then", "else", "end", "cast", "as", "distinct", "from", "interval", "escape",
    # type names (for CAST(x AS ...)) and interval units
    "string", "int", "integer", "bigint", "long", "smallint", "tinyint", "double", "float", "real",
    "decimal", "boolean", "timestamp", "date", "binary",
    "year", "years", "month", "months", "day", "days", "hour", "hours", "minute", "minutes",
    "second", "seconds", "week", "weeks",
})

FUNCTIONS = frozenset({
    # strings
    "lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "char_length", "substr",
    "substring", "concat", "concat_ws", "startswith", "endswith", "contains", "instr", "locate",
    "regexp_like", "regexp_extract", "regexp_replace", "replace", "split_part", "left", "right", "lpad",
    "rpad", "initcap", "reverse",
    # nulls / conditionals
    "coalesce", "nvl", "nvl2", "ifnull", "nullif", "isnull", "isnotnull", "isnan", "if", "greatest", "least",
    # math
    "abs", "round", "bround", "floor", "ceil", "ceiling", "sqrt", "pow", "power", "exp", "ln", "log",
    "log10", "log2", "mod", "pmod", "sign", "signum", "negative", "positive",
    # dates / times
    "hour", "minute", "second", "year", "month", "day", "dayofmonth", "dayofweek", "dayofyear",
    "weekday", "weekofyear", "quarter", "to_date", "to_timestamp", "date_trunc", "trunc", "date_add",
    "date_sub", "datediff", "date_diff", "unix_timestamp", "unix_micros", "unix_millis", "unix_seconds",
    "from_unixtime", "date_format", "current_date", "current_timestamp", "make_date", "timestamp_seconds",
    "timestamp_millis", "timestamp_micros", "last_day",
    # casts / misc
    "cast", "try_cast", "string", "int", "bigint", "double", "float", "boolean", "date", "timestamp",
    "in", "array_contains", "array", "size", "hash", "md5", "sha1", "sha2", "crc32", "try_divide",
})

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[LlDdSsYy]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<bq>`)
  | (?P<quote>['"])
  | (?P<op><=>|<=|>=|<>|!=|==|\|\||&&|[=<>+\-*/%(),.!|&^~])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | ident | qident | string | op
    text: str
    pos: int


class WhereError(ValueError):
    """The expression is malformed or names something unknown."""


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(expr)
    while i < n:
        m = _TOKEN_RE.match(expr, i)
        if not m:
            raise WhereError(f"unexpected character {expr[i]!r} at position {i}")
        kind = m.lastgroup or ""
        if kind == "ws":
            i = m.end()
            continue
        if kind in ("quote", "bq"):
            q = expr[i]
            j = i + 1
            buf: list[str] = []
            while True:
                if j >= n:
                    what = "identifier" if q == "`" else "string"
                    raise WhereError(f"unterminated {what} starting at position {i}: add the closing {q}")
                c = expr[j]
                if c == "\\" and q != "`" and j + 1 < n:
                    buf.append(expr[j + 1])
                    j += 2
                    continue
                if c == q:
                    if j + 1 < n and expr[j + 1] == q:  # doubled quote escapes itself
                        buf.append(q)
                        j += 2
                        continue
                    break
                buf.append(c)
                j += 1
            tokens.append(Token("qident" if q == "`" else "string", "".join(buf), i))
            i = j + 1
            continue
        tokens.append(Token(kind, m.group(kind), i))
        i = m.end()
    return tokens


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def referenced_columns(expr: str, columns: Iterable[str]) -> list[str]:
    """Validate ``expr`` against ``columns``; return the columns it references (in order, unique).

    Raises WhereError naming the problem (unknown identifier, unbalanced parentheses, ...).
    """
    cols = {c.lower(): c for c in columns}
    if not expr or not expr.strip():
        raise WhereError("the expression is empty; remove `where:` or write a boolean expression")
    tokens = tokenize(expr)
    depth = 0
    used: list[str] = []
    prev: Token | None = None
    for idx, tok in enumerate(tokens):
        nxt = tokens[idx + 1] if idx + 1 < len(tokens) else None
        if tok.kind == "op":
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                depth -= 1
                if depth < 0:
                    raise WhereError(f"unbalanced ')' at position {tok.pos}")
            elif tok.text == ";":  # pragma: no cover - ';' is not tokenized
                raise WhereError("';' is not allowed")
        elif tok.kind in ("ident", "qident"):
            low = tok.text.lower()
            after_dot = prev is not None and prev.kind == "op" and prev.text == "."
            if after_dot:
                raise WhereError(f"qualified names like '...{tok.text}' are not supported; use the bare column")
            is_call = nxt is not None and nxt.kind == "op" and nxt.text == "("
            if tok.kind == "qident" or (low in cols and not is_call):
                if low not in cols:
                    raise WhereError(
                        f"unknown column '{tok.text}'{_suggest(low, cols)}; declare it in source.columns"
                    )
                if cols[low] not in used:
                    used.append(cols[low])
            elif is_call:
                if low not in FUNCTIONS and low not in KEYWORDS:
                    raise WhereError(
                        f"unknown function '{tok.text}'{_suggest(low, FUNCTIONS)}; use a Spark SQL scalar "
                        "function (lower, coalesce, abs, date_trunc, ...)"
                    )
            elif low not in KEYWORDS:
                raise WhereError(
                    f"unknown identifier '{tok.text}'{_suggest(low, list(cols) + sorted(KEYWORDS))}; "
                    f"it is neither a source column ({', '.join(cols.values())}) nor a SQL keyword. "
                    "Quote string literals: 'value'"
                )
        prev = tok
    if depth != 0:
        raise WhereError(f"unbalanced parentheses: {depth} '(' not closed")
    last = tokens[-1]
    if last.kind == "op" and last.text not in (")",):
        raise WhereError(f"the expression ends with the operator '{last.text}'")
    if last.kind == "ident" and last.text.lower() in {"and", "or", "not", "in", "is", "like", "between"}:
        raise WhereError(f"the expression ends with '{last.text}'")
    return used
