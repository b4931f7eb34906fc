"""Load flag and experiment declarations with the feature specs' YAML limits and ``file:line: field: problem``
errors, and check their targeting rules and covariates against the served feature groups."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from weir.experiments.models import MODELS, Declaration, Experiment
from weir.experiments.targeting import comparisons
from weir.spec.errors import SpecError, raise_errors
from weir.spec.loader import SPEC_SUFFIXES, _compose, _LineIndex, _pydantic_problem
from weir.spec.models import FeatureGroup, _loc_str
from weir.spec.yaml_limits import MAX_SPEC_BYTES

Loc = tuple[str | int, ...]


def _model_fields_at(model: type[Declaration], loc: Loc) -> list[str]:
    from weir.experiments.models import EntityRef, Metric, Variant

    nested: dict[str | int, Any] = {"entity": EntityRef, "variants": Variant, "metrics": Metric}
    owner: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        owner = nested.get(part)
        if owner is None:
            return []
    return sorted(owner.model_fields)


def _problem(model: type[Declaration], err: Any) -> tuple[Loc, str]:
    loc: Loc = tuple(err["loc"])
    if err["type"] != "extra_forbidden":
        loc, msg = _pydantic_problem(err)
        field, sep, rest = msg.partition(": ")
        if sep and field.isidentifier() and field in model.model_fields:  # a model check naming its field
            return (*loc, field), rest
        return loc, msg
    field = str(loc[-1])
    allowed = _model_fields_at(model, loc)
    close = difflib.get_close_matches(field, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return loc, f"unknown field '{field}'{hint}; allowed fields here: {', '.join(allowed)}"


def _feature_problems(decl: Declaration, groups: dict[str, FeatureGroup]) -> list[tuple[Loc, str]]:
    """Every ``group.column`` a rule or covariate names must be served, by a group keyed by the same entity."""
    out: list[tuple[Loc, str]] = []
    refs: list[tuple[Loc, str]] = []
    if decl.rule is not None:
        refs += [(("targeting",), c.name) for c in comparisons(decl.rule) if c.is_feature]
    if isinstance(decl, Experiment):
        refs += [(("covariates", i), c) for i, c in enumerate(decl.covariates)]
    for loc, ref in refs:
        group_name, column = ref.split(".", 1)
        group = groups.get(group_name)
        if group is None:
            close = difflib.get_close_matches(group_name, list(groups), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            out.append((loc, f"unknown feature group '{group_name}' in {ref!r}{hint}; known groups: "
                             f"{', '.join(sorted(groups)) or 'none'}"))
            continue
        columns = group.output_column_names()
        if column not in columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            out.append((loc, f"group '{group_name}' serves no feature '{column}'{hint}; its features: "
                             f"{', '.join(columns)}"))
            continue
        if group.entity.name != decl.entity.name or group.key_columns != [decl.entity.key]:
            out.append((loc, f"group '{group_name}' is keyed by {group.entity.name} {group.key_columns}, not "
                             f"{decl.entity.name} ['{decl.entity.key}']; use a group of the declared entity"))
        elif group.online is not None and not group.online.enabled:
            out.append((loc, f"group '{group_name}' is not served online (online.enabled: false); enable it "
                             "or target on another group"))
    return out


def _parse_text(text: str, file: str, kind: str,
                groups: dict[str, FeatureGroup]) -> tuple[Declaration | None, list[SpecError]]:
    node, data, errors = _compose(text, file)
    if errors:
        return None, errors
    index = _LineIndex(node)

    def err(loc: Loc, msg: str) -> SpecError:
        return SpecError(msg, file=file, line=index.line_of(loc), field=_loc_str(loc) or None)

    errors = [SpecError(f"key '{loc[-1]}' appears twice in the same mapping; keep one", file=file, line=line,
                        field=_loc_str(loc)) for loc, line in index.duplicates]
    if not isinstance(data, dict):
        return None, [*errors, err((), f"a {kind} declaration must be a YAML mapping (name:, entity:, salt:, "
                                        "variants:, ...)")]
    model = MODELS[kind]
    try:
        decl = model.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            loc, msg = _problem(model, e)
            errors.append(err(loc, msg))
        return None, errors
    errors += [err(loc, msg) for loc, msg in _feature_problems(decl, groups)]
    if errors:
        return None, errors
    return decl.with_path(file), []


def _read(path: Path) -> tuple[str | None, list[SpecError]]:
    file = str(path)
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            return None, [SpecError(f"the file is larger than {MAX_SPEC_BYTES} bytes; split it", file=file)]
        return path.read_text(encoding="utf-8"), []
    except OSError as e:
        return None, [SpecError(f"cannot read declaration: {e.strerror or e}", file=file)]
    except UnicodeDecodeError as e:
        return None, [SpecError(f"the file is not UTF-8 text (byte {e.start}); save it as UTF-8", file=file)]


def parse_declaration(text: str, kind: str, groups: Sequence[FeatureGroup],
                      file: str = "<string>") -> Declaration:
    """One declaration from YAML text (tests and tools); raises SpecError/SpecErrors."""
    decl, errors = _parse_text(text, file, kind, {g.name: g for g in groups})
    raise_errors(errors)
    assert decl is not None
    return decl


def _collect(path: str | Path, kind: str,
             groups: Sequence[FeatureGroup]) -> tuple[list[Declaration], list[SpecError]]:
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in SPEC_SUFFIXES and f.is_file())
    elif p.is_file():
        files = [p]
    else:
        return [], [SpecError(f"no such {kind} file or directory", file=str(p))]
    by_name = {g.name: g for g in groups}
    decls: list[Declaration] = []
    errors: list[SpecError] = []
    for f in files:
        text, errs = _read(f)
        if text is not None:
            decl, errs = _parse_text(text, str(f), kind, by_name)
            if decl is not None:
                decls.append(decl)
        errors += errs
    seen: dict[str, Declaration] = {}
    for d in decls:
        if d.name in seen:
            errors.append(SpecError(f"duplicate {kind} name '{d.name}' (also in {seen[d.name].path}); rename one",
                                    file=d.path, line=1, field="name"))
        seen[d.name] = d
    return sorted(decls, key=lambda d: d.name), errors


def validate_declarations(path: str | Path, kind: str, groups: Sequence[FeatureGroup]) -> list[SpecError]:
    """Every problem of the ``kind`` ("flag" | "experiment") declarations under ``path`` (empty = valid)."""
    return _collect(path, kind, groups)[1]


def load_declarations(path: str | Path, kind: str, groups: Sequence[FeatureGroup]) -> list[Declaration]:
    """The declarations under ``path`` sorted by name; raises SpecError(s) listing every problem.

    >>> flags = load_declarations("flags", "flag", load_specs("feature_specs"))
    """
    decls, errors = _collect(path, kind, groups)
    raise_errors(errors)
    return decls
