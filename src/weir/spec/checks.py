"""Cross-field checks of a feature group, each returned with the field path it concerns."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from weir.spec.durations import format_duration_us
from weir.spec.field_rules import field_problems
from weir.spec.where import WhereError, referenced_columns

if TYPE_CHECKING:
    from weir.spec.models import FeatureGroup

Loc = tuple[str | int, ...]


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def semantic_problems(group: FeatureGroup) -> list[tuple[Loc, str]]:
    from weir.spec.models import AGGREGATABLE_TYPES, RESERVED_COLUMNS, Aggregation, ColumnType

    problems: list[tuple[Loc, str]] = field_problems(group)
    cols = group.source.columns
    declared = ", ".join(cols)

    for i, key in enumerate(group.entity.keys):
        if key not in cols:
            problems.append((("entity", "keys", i), (
                f"key column '{key}' is not declared in source.columns{_did_you_mean(key, list(cols))}; "
                f"add it there (e.g. `{key}: string`)")))
    if len(set(group.entity.keys)) != len(group.entity.keys):
        problems.append((("entity", "keys"), "key columns are listed twice; list each key once"))

    et = group.source.event_time
    if et not in cols:
        problems.append((("source", "event_time"), (
            f"event_time column '{et}' is not declared in source.columns{_did_you_mean(et, list(cols))}; "
            f"add `{et}: timestamp` to source.columns")))
    elif cols[et] != ColumnType.TIMESTAMP:
        problems.append((("source", "event_time"), (
            f"event_time column '{et}' has type {cols[et].value}; it must be declared as timestamp")))
    if et in group.entity.keys:
        problems.append((("entity", "keys"), f"the event_time column '{et}' cannot be an entity key"))

    seen_names: dict[str, int] = {}
    seen_outputs: dict[str, str] = {}
    reserved = set(RESERVED_COLUMNS) | set(group.entity.keys)
    for i, f in enumerate(group.features):
        loc: Loc = ("features", i)
        if f.name in seen_names:
            problems.append(((*loc, "name"), (
                f"duplicate feature name '{f.name}' (also features[{seen_names[f.name]}]); rename one")))
        else:
            seen_names[f.name] = i

        agg = f.aggregation
        if f.column is None:
            if agg != Aggregation.COUNT:
                problems.append((loc, (
                    f"aggregation '{agg.value}' needs a `column:`; pick one of source.columns ({declared})")))
        elif f.column not in cols:
            problems.append(((*loc, "column"), (
                f"column '{f.column}' is not declared in source.columns{_did_you_mean(f.column, list(cols))}; "
                f"declared columns: {declared}")))
        else:
            ctype = cols[f.column]
            allowed = AGGREGATABLE_TYPES[agg]
            if ctype not in allowed:
                kinds = ", ".join(sorted(t.value for t in allowed))
                problems.append(((*loc, "column"), (
                    f"cannot {agg.value} column '{f.column}' of type {ctype.value}; {agg.value} needs one of: "
                    f"{kinds} (use count or approx_count_distinct for other types)")))

        if f.where is not None:
            try:
                referenced_columns(f.where, cols)
            except WhereError as e:
                problems.append(((*loc, "where"), f"bad where expression {f.where!r}: {e}"))

        if f.hop is not None:
            hop = f.hop_us_for(None)
            for j, w in enumerate(f.window_us):
                if w is not None and w % hop != 0:
                    problems.append(((*loc, "windows", j), (
                        f"window {format_duration_us(w)} is not a multiple of hop {f.hop}; "
                        "choose a hop that divides every window of the feature")))

        labels: list[str | None] = list(f.windows) or [None]
        for label in labels:
            out = f.output_column(label)
            if out in reserved:
                problems.append(((*loc, "name"), (
                    f"output column '{out}' collides with a key or reserved column name; rename the feature")))
            elif out in seen_outputs:
                problems.append(((*loc, "name"), (
                    f"output column '{out}' is produced twice (also by feature '{seen_outputs[out]}'); "
                    "rename one of the features")))
            else:
                seen_outputs[out] = f.name

        counts = agg in (Aggregation.COUNT, Aggregation.APPROX_COUNT_DISTINCT)
        if (f.bounds is not None and f.column is not None and f.column in cols
                and not (cols[f.column].is_numeric or counts)):
            problems.append(((*loc, "bounds"), (
                f"bounds only apply to numeric features; '{f.name}' ({agg.value} of "
                f"{cols[f.column].value}) is not numeric")))
    return problems
