"""Load feature specs from YAML, mapping every error to file, line and field path."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from weir.spec.checks import Loc, semantic_problems
from weir.spec.errors import SpecError, raise_errors
from weir.spec.models import FeatureGroup, _loc_str
from weir.spec.yaml_limits import MAX_SPEC_BYTES, YamlLimitError, compose_limited

SPEC_SUFFIXES = (".yaml", ".yml")


class _LineIndex:
    """Line numbers (1-based) of every mapping key / sequence item in a composed YAML document."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int]] = []
        if root is not None:
            self.lines[()] = root.start_mark.line + 1
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*loc, key)
                if key in seen:
                    self.duplicates.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*loc, i)
                self.lines[child] = item.start_mark.line + 1
                self._walk(item, child)

    def line_of(self, loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for 'did you mean' on unknown keys)."""
    from weir.spec import models as m

    model: Any = m.FeatureGroup
    nested = {
        "entity": m.Entity, "source": m.Source, "features": m.Feature, "online": m.Online,
        "expectations": m.ExpectationSpec, "kafka": m.KafkaSource, "bounds": m.Bounds,
    }
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        model = nested.get(part)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _pydantic_problem(err: Any) -> tuple[Loc, str]:
    loc: Loc = tuple(err["loc"])
    typ = err["type"]
    msg = str(err["msg"])
    if typ == "extra_forbidden":
        field = str(loc[-1])
        model = _model_at(loc)
        allowed = sorted(model.model_fields) if model else []
        hint = ""
        close = difflib.get_close_matches(field, allowed, n=1)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        return loc, f"unknown field '{field}'{hint}; allowed fields here: {', '.join(allowed)}"
    if typ == "missing":
        return loc, f"required field '{loc[-1]}' is missing; add it"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif typ in ("too_short",) and loc and loc[-1] in ("features", "keys", "columns"):
        msg = f"{msg}; declare at least one"
    else:
        got = err.get("input")
        if not isinstance(got, dict | list):
            msg = f"{msg} (got {got!r})"
    return loc, msg


def _errors_for(data: Any, index: _LineIndex, file: str) -> tuple[FeatureGroup | None, list[SpecError]]:
    errors: list[SpecError] = []

    def add(loc: Loc, msg: str) -> None:
        errors.append(SpecError(msg, file=file, line=index.line_of(loc), field=_loc_str(loc) or None))

    for loc, line in index.duplicates:
        errors.append(SpecError(f"key '{loc[-1]}' appears twice in the same mapping; keep one",
                                file=file, line=line, field=_loc_str(loc)))
    if not isinstance(data, dict):
        errors.append(SpecError("a feature spec must be a YAML mapping (name:, entity:, source:, features:, ...)",
                                file=file, line=index.line_of(())))
        return None, errors
    try:
        group = FeatureGroup.model_validate(data, context={"defer_semantic_checks": True})
    except ValidationError as exc:
        for err in exc.errors():
            add(*_pydantic_problem(err))
        return None, errors
    for loc, msg in semantic_problems(group):
        add(loc, msg)
    if errors:
        return None, errors
    group.with_path(file)
    return group, errors


def _compose(text: str, file: str) -> tuple[yaml.Node | None, Any, list[SpecError]]:
    """(node graph, data, errors) of a spec's YAML text, within the size/alias/depth limits."""
    try:
        node, data = compose_limited(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = str(e.problem) if isinstance(e, YamlLimitError) else f"invalid YAML: {e.problem or e}; fix the syntax"
        return None, None, [SpecError(msg, file=file, line=line)]
    except yaml.YAMLError as e:
        return None, None, [SpecError(f"invalid YAML: {e}", file=file)]
    return node, data, []


def _parse_file(path: Path) -> tuple[FeatureGroup | None, list[SpecError]]:
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            return None, [SpecError(f"the file is {size} bytes; a spec may be at most {MAX_SPEC_BYTES} bytes",
                                    file=file)]
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        return None, [SpecError(f"cannot read spec file: {e.strerror or e}", file=file)]
    except UnicodeDecodeError as e:
        return None, [SpecError(f"the file is not UTF-8 text (byte {e.start}); save it as UTF-8", file=file)]
    node, data, errors = _compose(text, file)
    if errors:
        return None, errors
    return _errors_for(data, _LineIndex(node), file)


def parse_spec_text(text: str, file: str = "<string>") -> FeatureGroup:
    """Parse a spec from a YAML string (for tests and tools); raises SpecError/SpecErrors."""
    node, data, errors = _compose(text, file)
    group: FeatureGroup | None = None
    if not errors:
        group, errors = _errors_for(data, _LineIndex(node), file)
    raise_errors(errors)
    assert group is not None
    return group


def _spec_files(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.suffix in SPEC_SUFFIXES and f.is_file())
    if p.is_file():
        return [p]
    raise SpecError("no such spec file or directory", file=str(p))


def load_spec(path: str | Path) -> FeatureGroup:
    """Load one spec file. Raises SpecError (or SpecErrors listing every problem in the file)."""
    group, errors = _parse_file(Path(path))
    raise_errors(errors)
    assert group is not None
    return group


def _check_duplicates(groups: list[FeatureGroup]) -> list[SpecError]:
    errors: list[SpecError] = []
    seen: dict[str, FeatureGroup] = {}
    for g in groups:
        if g.name in seen:
            errors.append(SpecError(
                f"duplicate feature group name '{g.name}' (also in {seen[g.name].path}); rename one",
                file=g.path, line=1, field="name"))
        else:
            seen[g.name] = g
    return errors


def validate_specs(path: str | Path) -> list[SpecError]:
    """Check every spec under ``path`` (dir or file) and return ALL errors (empty list = valid).

    >>> for error in validate_specs("feature_specs"):
    ...     print(error)  # file:line: field: problem; fix
    """
    try:
        files = _spec_files(path)
    except SpecError as e:
        return [e]
    errors: list[SpecError] = []
    groups: list[FeatureGroup] = []
    for f in files:
        group, errs = _parse_file(f)
        errors.extend(errs)
        if group is not None:
            groups.append(group)
    errors.extend(_check_duplicates(groups))
    return errors


def load_specs(path: str | Path) -> list[FeatureGroup]:
    """Load all specs in a directory (or one file), sorted by name; raises SpecError(s) on any problem.

    >>> groups = load_specs(load_config().specs_dir)
    >>> [g.name for g in groups]  # ['merchant_risk', 'user_repayment', 'user_spend']
    """
    errors: list[SpecError] = []
    groups: list[FeatureGroup] = []
    for f in _spec_files(path):
        group, errs = _parse_file(f)
        errors.extend(errs)
        if group is not None:
            groups.append(group)
    errors.extend(_check_duplicates(groups))
    raise_errors(errors)
    return sorted(groups, key=lambda g: g.name)


def as_group(group: FeatureGroup | str, specs_dir: str | Path) -> FeatureGroup:
    """``group`` itself, or the group of that name (or spec file) under ``specs_dir``: every public verb takes a
    group either way.

    >>> as_group("user_spend", load_config().specs_dir).name  # 'user_spend'
    """
    return group if isinstance(group, FeatureGroup) else find_spec(group, specs_dir)


def find_spec(name: str, specs_dir: str | Path) -> FeatureGroup:
    """The feature group called ``name`` under ``specs_dir`` (a file path is also accepted).

    >>> group = find_spec("user_spend", load_config().specs_dir)
    >>> group.output_column_names()[:2]  # ['txn_count_1h', 'txn_count_1d']
    """
    p = Path(name)
    if p.suffix in SPEC_SUFFIXES and p.is_file():
        return load_spec(p)
    groups = load_specs(specs_dir)
    for g in groups:
        if g.name == name:
            return g
    names = [g.name for g in groups]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise SpecError(f"no feature group named '{name}'{hint}; available: {', '.join(names) or 'none'}",
                    file=str(specs_dir))
