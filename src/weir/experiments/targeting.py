"""Targeting rules: ``user_repayment.repayments_count_90d >= 3 and country in ['KE', 'NG']``.

Grammar (a small recursive-descent parser, no ``eval``)::

    rule    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | atom
    atom    := "(" or ")" | operand OP literal | operand "in" "[" literal ("," literal)* "]"
    operand := group "." feature_column     -- a served Weir feature, read online
             | attribute                    -- a plain attribute of the evaluation context
    OP      := == != < <= > >=

A comparison with a missing value (feature never served and without a default, attribute absent, or null) is
false, ``!=`` included, so a condition never matches on data it has not seen; only ``x == null`` (and ``x in
[..., null]``) matches a missing value. ``not (...)`` negates as written, so it does match missing values.
Which features a rule needs is known before evaluation (:func:`features_of`), so every rule of a declaration is
answered from one online read.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Literal = bool | int | float | str | None
Values = Mapping[str, Any]  # "group.column" or "attribute" -> value

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_TOKEN = re.compile(r"""\s*(?:
    (?P<num>-?\d+(?:\.\d+)?)
  | (?P<str>'[^']*'|"[^"]*")
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
)""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class RuleError(ValueError):
    """A rule does not parse; the message says where and what is expected."""


@dataclass(frozen=True)
class Compare:
    name: str  # "group.column" (a feature) or "attr" (an attribute)
    op: str  # one of _OPS, or "in"
    value: Literal | tuple[Literal, ...]

    @property
    def is_feature(self) -> bool:
        return "." in self.name


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    parts: tuple[Node, ...]


Node = Compare | Not | BoolOp


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            raise RuleError(f"unexpected text at character {at + 1}: {text[at:at + 12]!r}")
        kind = m.lastgroup or ""
        value, start = m.group(kind), m.start(kind)
        if kind == "name" and value.lower() in _KEYWORDS:
            kind = "kw"
            value = value.lower()
        out.append((kind, value, start + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, what: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise RuleError(f"the rule ends early; expected {what}")
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] in ("kw", "punct") and tok[1] == value

    def parse(self) -> Node:
        node = self.or_()
        tok = self.peek()
        if tok is not None:
            raise RuleError(f"unexpected {tok[1]!r} at character {tok[2]}; join conditions with 'and' / 'or'")
        return node

    def or_(self) -> Node:
        return self._joined("or", self.and_)

    def and_(self) -> Node:
        return self._joined("and", self.not_)

    def _joined(self, op: str, operand: Callable[[], Node]) -> Node:
        """``operand (op operand)*``: one operand as itself, more as a :class:`BoolOp` (``and`` binds tighter)."""
        parts = [operand()]
        while self.at(op):
            self.i += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else BoolOp(op, tuple(parts))

    def not_(self) -> Node:
        if self.at("not"):
            self.i += 1
            return Not(self.not_())
        return self.atom()

    def atom(self) -> Node:
        if self.at("("):
            self.i += 1
            node = self.or_()
            self._expect(")")
            return node
        kind, name, pos = self.take("a feature (group.column) or an attribute name")
        if kind != "name":
            raise RuleError(f"expected a feature (group.column) or an attribute at character {pos}, got {name!r}")
        kind, op, pos = self.take(f"a comparison after {name!r}")
        if kind == "op":
            return Compare(name, op, self.literal())
        if (kind, op) == ("kw", "in"):
            self._expect("[")
            items = [self.literal()]
            while self.at(","):
                self.i += 1
                items.append(self.literal())
            self._expect("]")
            return Compare(name, "in", tuple(items))
        raise RuleError(f"expected one of ==, !=, <, <=, >, >=, in after {name!r} at character {pos}, got {op!r}")

    def literal(self) -> Literal:
        kind, value, pos = self.take("a value (number, 'string', true, false, null)")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "str":
            return value[1:-1]
        if kind == "kw" and value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        raise RuleError(f"expected a value (number, 'string', true, false, null) at character {pos}, got {value!r}")

    def _expect(self, punct: str) -> None:
        kind, value, pos = self.take(f"{punct!r}")
        if (kind, value) != ("punct", punct):
            raise RuleError(f"expected {punct!r} at character {pos}, got {value!r}")


def parse_rule(text: str) -> Node:
    """The rule's syntax tree; raises RuleError naming the character where it goes wrong."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("a rule is a non-empty expression, e.g. \"user_repayment.repayments_count_90d >= 3\"")
    return _Parser(text).parse()


def comparisons(node: Node) -> Iterator[Compare]:
    """Every comparison in the tree (depth first)."""
    if isinstance(node, Compare):
        yield node
    elif isinstance(node, Not):
        yield from comparisons(node.inner)
    else:
        for part in node.parts:
            yield from comparisons(part)


def features_of(node: Node) -> dict[str, list[str]]:
    """{group: [columns]} the rule reads from the online store (first-use order)."""
    out: dict[str, list[str]] = {}
    for c in comparisons(node):
        if c.is_feature:
            group, column = c.name.split(".", 1)
            cols = out.setdefault(group, [])
            if column not in cols:
                cols.append(column)
    return out


def _compare(c: Compare, values: Values) -> bool:
    got = values.get(c.name)
    if got is None:  # absent or null: only an explicit null test matches
        return (c.op == "==" and c.value is None) or (c.op == "in" and isinstance(c.value, tuple)
                                                      and None in c.value)
    if c.op == "in":
        assert isinstance(c.value, tuple)
        return any(_same(got, v) for v in c.value)
    if c.value is None:
        return c.op == "!="
    try:
        return bool(_OPS[c.op](got, c.value))
    except TypeError:
        return False  # e.g. a string feature compared with a number: no match rather than a crash


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except TypeError:
        return False


def evaluate(node: Node, values: Values) -> bool:
    """Whether ``values`` (feature "group.column" and attribute names -> value) satisfy the rule."""
    if isinstance(node, Compare):
        return _compare(node, values)
    if isinstance(node, Not):
        return not evaluate(node.inner, values)
    if node.op == "and":
        return all(evaluate(p, values) for p in node.parts)
    return any(evaluate(p, values) for p in node.parts)
