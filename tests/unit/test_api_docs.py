"""Every public verb documented in docs/api.md has a docstring example that parses and fits its signature."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"

# (module, attribute path) of each public verb
VERBS = [
    ("weir.runtime", "load_config"),
    ("weir.runtime", "build_config"),
    ("weir.spec", "load_specs"),
    ("weir.spec", "find_spec"),
    ("weir.spec", "validate_specs"),
    ("weir.batch", "backfill"),
    ("weir.batch", "run_day"),
    ("weir.validate", "validate_day"),
    ("weir.validate", "gate_or_raise"),
    ("weir.online.publish", "publish"),
    ("weir.online", "OnlineClient.get_features"),
    ("weir.training", "build"),
    ("weir.training", "write_training_set"),
    ("weir.stream", "start_stream"),
    ("weir.stream", "run_stream"),
]


def _verb(module: str, path: str) -> Callable[..., Any]:
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def example_code(doc: str) -> str:
    """The ``>>>``/``...`` lines of a docstring, as one Python source."""
    lines = [m.group(1) for m in re.finditer(r"^\s*(?:>>>|\.\.\.) ?(.*)$", textwrap.dedent(doc), re.M)]
    return "\n".join(lines)


def calls_to(tree: ast.AST, name: str) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if called == name:
                out.append(node)
    return out


def check_call(call: ast.Call, sig: inspect.Signature, skip_self: bool) -> None:
    params = list(sig.parameters.values())[1 if skip_self else 0:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
    assert len(call.args) <= len(positional), f"{len(call.args)} positional arguments, the verb takes {len(positional)}"
    names = {p.name for p in params}
    for kw in call.keywords:
        assert kw.arg is None or kw.arg in names or takes_var_kw, f"no parameter {kw.arg!r}; it has {sorted(names)}"
    required = [p.name for p in positional if p.default is p.empty]
    given = {p.name for p in positional[:len(call.args)]} | {kw.arg for kw in call.keywords}
    assert set(required) <= given, f"missing required {sorted(set(required) - given)}"


@pytest.mark.parametrize(("module", "path"), VERBS, ids=[p for _, p in VERBS])
def test_verb_has_an_example_that_fits_its_signature(module: str, path: str) -> None:
    verb = _verb(module, path)
    code = example_code(verb.__doc__ or "")
    assert code, f"{module}.{path} has no '>>>' example in its docstring"
    tree = ast.parse(code)  # a SyntaxError fails the test
    name = path.rsplit(".", 1)[-1]
    calls = calls_to(tree, name)
    assert calls, f"the example of {path} does not call {name}()"
    for call in calls:
        check_call(call, inspect.signature(verb), skip_self="." in path)


@pytest.mark.parametrize(("module", "path"), VERBS, ids=[p for _, p in VERBS])
def test_verb_is_in_the_api_reference(module: str, path: str) -> None:
    assert f"{path.rsplit('.', 1)[-1]}(" in API_DOC.read_text(), f"docs/api.md does not document {module}.{path}"


def test_a_wrong_keyword_is_caught() -> None:
    def verb(spark: object, group: str, ds: object, config: object = None) -> None:
        """>>> verb(spark, "g", day, confg=None)"""

    (call,) = calls_to(ast.parse(example_code(verb.__doc__ or "")), "verb")
    with pytest.raises(AssertionError, match="no parameter 'confg'"):
        check_call(call, inspect.signature(verb), skip_self=False)
    with pytest.raises(AssertionError, match="missing required"):
        check_call(ast.parse("verb(spark)").body[0].value, inspect.signature(verb), skip_self=False)  # type: ignore[attr-defined]
