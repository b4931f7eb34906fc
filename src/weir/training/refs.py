"""Feature references and spine checks for training sets (pure: no Spark)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from weir.spec.models import FeatureGroup


class TrainingSetError(ValueError):
    """A training-set request that cannot be built, with what to fix."""


@dataclass(frozen=True)
class GroupRequest:
    group: FeatureGroup
    columns: list[str]


def resolve_refs(refs: Sequence[str], groups: Mapping[str, FeatureGroup]) -> list[GroupRequest]:
    """``["user_spend:txn_amount_sum_7d", "merchant_risk"]`` -> the columns wanted per group (request order)."""
    if not refs:
        raise TrainingSetError("no features requested: pass refs like 'user_spend:txn_amount_sum_7d' or a group name")
    wanted: dict[str, list[str]] = {}
    for ref in refs:
        name, _, column = ref.strip().partition(":")
        group = groups.get(name)
        if group is None:
            raise TrainingSetError(f"unknown feature group '{name}' in '{ref}'; known: {', '.join(sorted(groups))}")
        columns = group.output_column_names()
        if column and column not in columns:
            raise TrainingSetError(f"group '{name}' has no feature column '{column}'; "
                                   f"its columns: {', '.join(columns)}")
        chosen = wanted.setdefault(name, [])
        chosen.extend(c for c in ([column] if column else columns) if c not in chosen)
    return [GroupRequest(groups[n], cols) for n, cols in wanted.items()]


def check_spine_columns(spine_types: Mapping[str, str], timestamp_col: str, requests: Sequence[GroupRequest]) -> None:
    """Fail before Spark runs when the spine lacks a key or its timestamp, or a column has the wrong type.

    ``spine_types`` maps column name -> Spark simple type string (e.g. ``timestamp``, ``string``).
    """
    if timestamp_col not in spine_types:
        raise TrainingSetError(f"the spine has no timestamp column '{timestamp_col}' (it has: "
                               f"{', '.join(spine_types)}); pass timestamp_col= or add the column")
    if spine_types[timestamp_col] not in ("timestamp", "timestamp_ntz"):
        raise TrainingSetError(f"spine column '{timestamp_col}' is {spine_types[timestamp_col]}, not a timestamp; "
                               f"cast it, e.g. to_timestamp({timestamp_col})")
    for req in requests:
        for key in req.group.key_columns:
            if key not in spine_types:
                raise TrainingSetError(f"features of group '{req.group.name}' need the key column '{key}' in the "
                                       f"spine (it has: {', '.join(spine_types)})")
            declared = req.group.source.columns[key].value
            if spine_types[key] != declared and not (declared == "long" and spine_types[key] == "bigint"):
                raise TrainingSetError(f"spine column '{key}' is {spine_types[key]} but group '{req.group.name}' "
                                       f"declares it {declared}; cast it in the spine")
    collisions = {c for r in requests for c in r.columns} & set(spine_types)
    if collisions:
        raise TrainingSetError(f"feature column(s) {sorted(collisions)} already exist in the spine; rename them")
