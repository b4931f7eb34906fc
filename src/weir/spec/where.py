"""Validate a ``where:`` filter (a Spark SQL boolean expression) without Spark, on a real parse tree.

A spec author must not be able to run more than the filter functions Weir allows. Three layers:

1. A strict lexer that follows Spark's lexical rules (strings with ``\\`` escapes and doubled quotes,
   backtick names) on a deliberately small subset, and refuses whatever Spark could read differently:
   comments, non-ASCII outside strings, ``${`` (Spark substitutes variables before parsing), string
   prefixes (``R'..'``), ``::``, ``->``, ``=>``, ``;``, ``.``, ``[``, ``:``, ``?``. Every name before ``(``,
   quoted or not, must be an allowed function.
2. sqlglot (Spark dialect) parses a canonical rendering of those tokens, so both parsers see the same tokens.
3. The tree is walked against an allow-list of node types and functions: no subqueries, lambdas, windows,
   ``*``, struct/array access or parameters; casts only to plain types; patterns only as literals; the
   functions that can grow a string (``lpad``, ``rpad``, ``replace``, ``regexp_replace``) only with bounded
   literal arguments.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

KEYWORDS = frozenset({
    "and", "or", "not", "in", "is", "null", "like", "ilike", "rlike", "regexp", "between", "true", "false",
    "case", "when", "then", "else", "end", "cast", "as", "distinct", "from", "interval", "escape", "div",
    # type names (for CAST(x AS ...)) and interval units
    "string", "int", "integer", "bigint", "long", "smallint", "tinyint", "double", "float", "real",
    "decimal", "boolean", "timestamp", "date", "binary",
    "year", "years", "month", "months", "day", "days", "hour", "hours", "minute", "minutes",
    "second", "seconds", "week", "weeks",
})

#: type names: after AS in a cast, or (date, timestamp) before a string as a typed literal
TYPE_WORDS = frozenset({"string", "int", "integer", "bigint", "long", "smallint", "tinyint", "double", "float",
                        "real", "decimal", "boolean", "timestamp", "date", "binary"})

#: words that may stand before ``(`` without being a function call
OPERATOR_WORDS = frozenset({"and", "or", "not", "in", "is", "like", "ilike", "rlike", "regexp", "between",
                            "when", "then", "else", "case", "escape", "div", "as", "from", "distinct"})

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
    "array_contains", "array", "size", "hash", "md5", "sha1", "sha2", "crc32", "try_divide",
})

MAX_CHARS = 1000  # a filter longer than this belongs upstream, not in a spec
MAX_DEPTH = 32  # parenthesis nesting
MAX_PAD = 1000  # lpad/rpad length
CAST_TYPES = frozenset({"TEXT", "INT", "BIGINT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL", "BOOLEAN",
                        "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPLTZ", "TIMESTAMPNTZ", "DATE"})
_NESTED_QUANTIFIER = re.compile(r"[*+}]\)*[*+{]|\([^()]*[*+][^()]*\)[*+{]")

_OP_RE = re.compile(r"<=>|<=|>=|<>|!=|==|\|\||[=<>+\-*/%(),|&^~!]")
_REFUSED_OPS = {
    "--": "comments are not allowed; put a YAML comment (# ...) on the line instead",
    "/*": "comments are not allowed; put a YAML comment (# ...) on the line instead",
    "${": "'${' is replaced by Spark's variable substitution before parsing; remove it",
    "::": "'::' casts are not supported; write CAST(x AS type)",
    "->": "lambdas are not allowed; use a plain condition",
    "=>": "named arguments are not allowed; pass arguments by position",
    "|>": "'|>' is not allowed; write one condition",
    "<<": "shift operators are not allowed",
    ">>": "shift operators are not allowed",
    ";": "';' is not allowed: a filter is one expression",
    ".": "qualified names and field access (a.b) are not supported; use the bare column name",
    "[": "element access ([...]) is not supported; use a plain column",
    ":": "parameters and ':' are not allowed",
    "?": "parameters ('?') are not allowed",
}
_NUMBER_RE = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?:[bB][dD]|[lLsSyYdDfF])?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Token:
    kind: str  # number | ident | qident | string | op
    text: str  # for strings: the body as written (escapes kept); for qident: the name
    pos: int
    quote: str = ""


class WhereError(ValueError):
    """The expression is malformed, names something unknown, or uses something a filter may not."""


# ------------------------------------------------------------------------------------------------ lexer
def _read_quoted(expr: str, i: int) -> tuple[str, int]:
    """Body of the quoted token starting at ``i`` (Spark's rules) and the index after its closing quote."""
    q = expr[i]
    j = i + 1
    n = len(expr)
    while True:
        if j >= n:
            what = "identifier" if q == "`" else "string"
            raise WhereError(f"unterminated {what} starting at position {i}: add the closing {q}")
        c = expr[j]
        if c == "\\" and q != "`":
            if j + 1 >= n:
                raise WhereError(f"unterminated string starting at position {i}: add the closing {q}")
            j += 2
            continue
        if c == q:
            if j + 1 < n and expr[j + 1] == q:  # doubled quote escapes itself
                j += 2
                continue
            return expr[i + 1:j], j + 1
        j += 1


def tokenize(expr: str) -> list[Token]:
    """Tokens of ``expr`` as Spark's lexer reads them; raises WhereError on anything outside the safe subset."""
    if "${" in expr:
        raise WhereError(_REFUSED_OPS["${"])
    tokens: list[Token] = []
    i = 0
    n = len(expr)
    while i < n:
        c = expr[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c in "'\"`":
            body, end = _read_quoted(expr, i)
            if c == "`":
                tokens.append(Token("qident", body.replace("``", "`"), i))
            else:
                tokens.append(Token("string", body, i, c))
            i = end
            continue
        if not c.isascii() or not c.isprintable():
            raise WhereError(f"character {c!r} (U+{ord(c):04X}) at position {i} is not allowed outside a string "
                             "literal; use plain ASCII spaces, names and operators")
        m = _NUMBER_RE.match(expr, i) if (c.isdigit() or expr.startswith(".", i)) else None
        if m:
            _check_number(expr, m.group(), i, m.end())
            tokens.append(Token("number", m.group(), i))
            i = m.end()
            continue
        for bad, why in _REFUSED_OPS.items():
            if expr.startswith(bad, i):
                raise WhereError(f"{why} (position {i})")
        m = _IDENT_RE.match(expr, i)
        if m:
            if m.end() < n and expr[m.end()] in "'\"":
                raise WhereError(f"string prefixes like {m.group()}'...' are not supported (position {i}); "
                                 "write a plain '...' string")
            tokens.append(Token("ident", m.group(), i))
            i = m.end()
            continue
        m = _OP_RE.match(expr, i)
        if not m:
            raise WhereError(f"unexpected character {c!r} at position {i}")
        tokens.append(Token("op", m.group(), i))
        i = m.end()
    return tokens


def _check_number(expr: str, text: str, pos: int, end: int) -> None:
    if end < len(expr) and (expr[end].isalnum() or expr[end] in "_.`'\""):
        raise WhereError(f"malformed number starting at position {pos}: {expr[pos:end + 1]!r}...; "
                         "separate a number from what follows with a space")
    digits = text.rstrip("lLsSyYdDfFbB")
    if not math.isfinite(float(digits)):
        raise WhereError(f"number {text} at position {pos} is out of range")


# ------------------------------------------------------------------------------------- lexical names
def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_names(tokens: list[Token], cols: Mapping[str, str]) -> list[str]:
    """Every name is a column, a keyword, or an allowed function before ``(``; returns the columns used."""
    used: list[str] = []
    depth = 0
    for idx, tok in enumerate(tokens):
        nxt = tokens[idx + 1] if idx + 1 < len(tokens) else None
        after_as = idx > 0 and tokens[idx - 1].kind == "ident" and tokens[idx - 1].text.lower() == "as"
        if after_as and tok.kind == "ident" and tok.text.lower() in KEYWORDS:
            continue  # a type name in CAST(x AS decimal(10, 2)); the parse tree checks the type
        if tok.kind == "op" and tok.text == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise WhereError(f"parentheses nest deeper than {MAX_DEPTH}; simplify the expression")
        elif tok.kind == "op" and tok.text == ")":
            depth -= 1
            if depth < 0:
                raise WhereError(f"unbalanced ')' at position {tok.pos}")
        elif tok.kind in ("ident", "qident"):
            low = tok.text.lower()
            is_call = nxt is not None and nxt.kind == "op" and nxt.text == "("
            if is_call and not (tok.kind == "ident" and low in OPERATOR_WORDS):
                if low not in FUNCTIONS:
                    raise WhereError(
                        f"unknown function '{tok.text}'{_suggest(low, FUNCTIONS)}; a filter may call only "
                        "Weir's allowed Spark SQL scalar functions (lower, coalesce, abs, date_trunc, ...)")
            elif tok.kind == "qident" or low in cols:
                if low not in cols:
                    raise WhereError(
                        f"unknown column '{tok.text}'{_suggest(low, cols)}; declare it in source.columns")
                if cols[low] not in used:
                    used.append(cols[low])
            elif low in TYPE_WORDS and not (low in ("date", "timestamp") and nxt is not None
                                            and nxt.kind == "string"):
                raise WhereError(f"'{tok.text}' is a type name here; write CAST(x AS {low}), or a literal like "
                                 "DATE '2024-01-31' or TIMESTAMP '2024-01-31 12:00:00'")
            elif low not in KEYWORDS:
                raise WhereError(
                    f"unknown identifier '{tok.text}'{_suggest(low, list(cols) + sorted(KEYWORDS))}; "
                    f"it is neither a source column ({', '.join(cols.values())}) nor a SQL keyword. "
                    "Quote string literals: 'value'")
    if depth != 0:
        raise WhereError(f"unbalanced parentheses: {depth} '(' not closed")
    last = tokens[-1]
    if last.kind == "op" and last.text != ")":
        raise WhereError(f"the expression ends with the operator '{last.text}'; complete it")
    if last.kind == "ident" and last.text.lower() in {"and", "or", "not", "in", "is", "like", "between"}:
        raise WhereError(f"the expression ends with '{last.text}'; complete it")
    for a, b in itertools.pairwise(tokens):
        if a.kind == "string" and b.kind == "string":
            raise WhereError(f"two string literals side by side at position {b.pos} (Spark would join them); "
                             "write one string")
    return used


# ---------------------------------------------------------------------------------------- parse tree
def _canonical(tokens: list[Token]) -> str:
    """The tokens rendered so sqlglot reads exactly the tokens Spark reads (strings single-quoted with
    backslash escapes, names backticked)."""
    out: list[str] = []
    for t in tokens:
        if t.kind == "string":
            out.append("'" + _single_quoted_body(t.text, t.quote) + "'")
        elif t.kind == "qident":
            out.append("`" + t.text.replace("`", "``") + "`")
        else:
            out.append(t.text)
    return " ".join(out)


def _single_quoted_body(body: str, quote: str) -> str:
    res: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            res.append(body[i:i + 2])
            i += 2
            continue
        if c == quote:  # a doubled quote (the lexer guarantees its partner follows)
            res.append("\\" + quote)
            i += 2
            continue
        res.append("\\'" if c == "'" else c)
        i += 1
    return "".join(res)


@cache
def _function_classes() -> frozenset[type]:
    """The sqlglot node classes that the allowed function names parse to."""
    import sqlglot
    from sqlglot import exp

    classes: set[type] = {exp.Cast, exp.TryCast}
    for name in FUNCTIONS:
        for args in ("a", "a, b", "a, b, c"):
            try:
                node = sqlglot.parse_one(f"{name}({args})", read="spark")
            except Exception:  # an arity sqlglot does not accept
                continue
            if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous):
                classes.add(type(node))
    return frozenset(classes)


@cache
def _structural_classes() -> tuple[type, ...]:
    from sqlglot import exp

    return (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
            exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
            exp.NullSafeNEQ, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.RegexpLike, exp.Escape,
            exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg, exp.BitwiseAnd, exp.BitwiseOr,
            exp.BitwiseXor, exp.BitwiseNot, exp.DPipe, exp.Case, exp.If, exp.DataType, exp.DataTypeParam,
            exp.Interval, exp.Var)


_REFUSED_NODES = {
    "Subquery": "subqueries are not allowed", "Select": "subqueries are not allowed",
    "Exists": "subqueries and EXISTS are not allowed", "Lambda": "lambdas are not allowed",
    "Window": "window functions are not allowed", "Star": "'*' is not allowed",
    "Placeholder": "parameters are not allowed", "Kwarg": "named arguments are not allowed",
    "Alias": "aliases (x AS y, or two names side by side) are not allowed",
    "Dot": "field access is not allowed", "Bracket": "element access is not allowed",
}


def _parse(tokens: list[Token]) -> Any:
    import sqlglot

    text = _canonical(tokens)
    try:
        return sqlglot.parse_one(text, read="spark")
    except Exception as e:  # any failure of the parser: not a valid expression
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WhereError(f"not a valid Spark SQL expression ({first}); write one condition such as "
                         "status = 'x' AND amount > 0") from None


def _check_tree(tree: Any, types: Mapping[str, Any]) -> None:
    from sqlglot import exp

    funcs = _function_classes()
    structural = _structural_classes()
    for node in tree.walk():
        kind = type(node).__name__
        if kind in _REFUSED_NODES:
            raise WhereError(f"{_REFUSED_NODES[kind]}; write a plain condition on source columns")
        if isinstance(node, exp.Anonymous):
            if node.name.lower() not in FUNCTIONS:
                raise WhereError(f"function '{node.name}' is not allowed in a filter; use an allowed function")
        elif isinstance(node, structural):
            if isinstance(node, exp.Column) and (node.table or node.name.lower() not in types):
                raise WhereError(f"'{node.sql('spark')}' is not a source column; declare it in source.columns")
            if isinstance(node, exp.Var) and not isinstance(node.parent, exp.Interval | exp.Func):
                raise WhereError(f"unknown name '{node.name}'; quote string literals: 'value'")
            if isinstance(node, exp.DataType) and node.this.name not in CAST_TYPES:
                raise WhereError(f"cast to {node.sql('spark')} is not allowed; cast to string, int, bigint, "
                                 "double, float, decimal, boolean, date or timestamp")
        elif type(node) not in funcs:
            raise WhereError(f"'{node.sql('spark')[:60]}' is not allowed in a filter; use a plain condition")
        _check_arguments(node)
    _check_condition(tree, types)


def _literal_str(node: Any) -> str | None:
    from sqlglot import exp

    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _check_arguments(node: Any) -> None:
    """Bound the functions that can grow a value, and keep patterns out of the event producers' hands."""
    from sqlglot import exp

    if isinstance(node, exp.Pad):
        length = node.expression
        if not (isinstance(length, exp.Literal) and length.is_int and int(length.this) <= MAX_PAD):
            raise WhereError(f"lpad/rpad need a literal length of at most {MAX_PAD}")
    elif isinstance(node, exp.Replace):
        search, repl = _literal_str(node.expression), node.args.get("replacement")
        repl_text = "" if repl is None else _literal_str(repl)
        if not search or repl_text is None or len(repl_text) > len(search):
            raise WhereError("replace needs a non-empty literal search string and a literal replacement no "
                             "longer than it")
    elif isinstance(node, exp.RegexpReplace) and _literal_str(node.args.get("replacement")) != "":
        raise WhereError("regexp_replace may only delete matches: give '' as the replacement")
    if isinstance(node, exp.RegexpLike | exp.RegexpExtract | exp.RegexpReplace | exp.Like | exp.ILike):
        pattern = _literal_str(node.expression)
        if pattern is None:
            raise WhereError("a LIKE or regular-expression pattern must be a string literal (a column would let "
                             "event producers choose the pattern)")
        if not isinstance(node, exp.Like | exp.ILike) and _NESTED_QUANTIFIER.search(pattern):
            raise WhereError(f"the regular expression {pattern!r} nests repetitions (catastrophic backtracking); "
                             "simplify it")


def _check_condition(tree: Any, types: Mapping[str, Any]) -> None:
    """The filter must be true or false: refuse what is certainly a number, string or interval."""
    from sqlglot import exp

    node = tree
    while isinstance(node, exp.Paren):
        node = node.this
    arithmetic = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg, exp.BitwiseAnd,
                  exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.DPipe, exp.Interval)
    col_type = types.get(node.name.lower()) if isinstance(node, exp.Column) else None
    if (isinstance(node, (*arithmetic, exp.Literal))
            or (col_type is not None and str(col_type) != "boolean")):
        raise WhereError("the filter computes a value, not a condition; compare it, e.g. amount > 0")


# --------------------------------------------------------------------------------------------- entry
def referenced_columns(expr: str, columns: Iterable[str] | Mapping[str, Any]) -> list[str]:
    """Validate ``expr`` against ``columns`` (names, or names to declared types); return the columns it
    references (in order, unique). Raises WhereError naming the problem and the fix."""
    declared = list(columns)
    types: dict[str, Any] = (
        {c.lower(): columns[c] for c in declared} if isinstance(columns, Mapping) else {c.lower(): None
                                                                                         for c in declared})
    cols = {c.lower(): c for c in declared}
    if not isinstance(expr, str) or not expr.strip():
        raise WhereError("the expression is empty; remove `where:` or write a boolean expression")
    if len(expr) > MAX_CHARS:
        raise WhereError(f"the expression is {len(expr)} characters long; keep a filter under {MAX_CHARS} "
                         "(move heavy logic upstream)")
    tokens = tokenize(expr)
    used = _check_names(tokens, cols)
    _check_tree(_parse(tokens), types)
    return used
