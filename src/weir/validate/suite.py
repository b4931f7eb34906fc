"""The expectation suite of a feature group, derived from its spec.

:func:`plan_checks` is pure Python (what to check and why); :func:`build_suite` turns the plan into a Great
Expectations ``ExpectationSuite`` (GX is imported only there). The checks, in order:

1. every entity key column is not null;
2. one row per entity per run time (keys + ``run_ts`` unique together);
3. the batch is not empty, and when the previous run's row count is known, its row count is within
   +-``volume_tolerance`` of it;
4. ``count`` / ``approx_count_distinct`` outputs are >= 0, and every output's spec ``bounds`` hold;
5. every expectation listed under the spec's ``expectations:`` (any GX expectation class by name).

A spec expectation with an unknown class name, bad kwargs or a column the feature table does not have raises
:class:`~weir.spec.errors.SpecError` naming the spec file and the expectation.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from weir.compute.ir import NEWEST_COL as NEWEST_EVENT_COL
from weir.lake.paths import PARTITION_COL, RUN_TS_COL
from weir.spec.errors import SpecError
from weir.spec.models import Aggregation, FeatureGroup

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation import Expectation

DEFAULT_VOLUME_TOLERANCE = 0.5
NON_NEGATIVE_AGGREGATIONS = frozenset({Aggregation.COUNT, Aggregation.APPROX_COUNT_DISTINCT})
#: kwargs of GX expectations that name columns of the batch
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)


@dataclass(frozen=True)
class Check:
    """One expectation to run: GX class name, its kwargs, and where in the spec it comes from."""

    expectation: str
    kwargs: dict[str, Any]
    origin: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def gx_type(self) -> str:
        """GX's snake_case type, e.g. ``expect_column_values_to_not_be_null``."""
        return _snake(self.expectation)

    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.expectation}({args})"


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out


def suite_name(group: FeatureGroup) -> str:
    return f"weir_{group.name}_v{group.version}"


def feature_table_columns(group: FeatureGroup) -> list[str]:
    """Columns of ``features/<group>`` (see docs/architecture.md)."""
    return [*group.key_columns, RUN_TS_COL, *group.output_column_names(), NEWEST_EVENT_COL, PARTITION_COL]


def volume_bounds(previous_row_count: int, tolerance: float) -> tuple[int, int]:
    """[floor(n * (1 - tol)), ceil(n * (1 + tol))], never below 0."""
    if tolerance < 0:
        raise ValueError(f"volume tolerance must be >= 0 (a fraction, 0.5 = +-50%), got {tolerance}")
    low = max(0, math.floor(previous_row_count * (1 - tolerance)))
    high = math.ceil(previous_row_count * (1 + tolerance))
    return low, high


def group_volume_tolerance(group: FeatureGroup, default: float | None) -> float | None:
    """The spec's volume tolerance when the spec model declares one, else ``default`` (None disables)."""
    for holder in (group, getattr(group, "validation", None)):
        value = getattr(holder, "volume_tolerance", None) if holder is not None else None
        if isinstance(value, int | float):
            return float(value)
    return default


def plan_checks(group: FeatureGroup, previous_row_count: int | None = None,
                volume_tolerance: float | None = DEFAULT_VOLUME_TOLERANCE, min_rows: int = 1) -> list[Check]:
    """The checks for one batch of ``group``'s feature table (pure; no GX, no Spark)."""
    checks: list[Check] = []
    keys = group.key_columns
    for key in keys:
        checks.append(Check("ExpectColumnValuesToNotBeNull", {"column": key}, f"entity key {key} is not null"))
    checks.append(Check("ExpectCompoundColumnsToBeUnique", {"column_list": [*keys, RUN_TS_COL]},
                        "one row per entity per run time"))

    tolerance = group_volume_tolerance(group, volume_tolerance)
    if previous_row_count is not None and tolerance is not None:
        low, high = volume_bounds(previous_row_count, tolerance)
        checks.append(Check("ExpectTableRowCountToBeBetween", {"min_value": max(low, min_rows), "max_value": high},
                            f"row count within +-{tolerance:.0%} of the previous run ({previous_row_count} rows)"))
    elif min_rows > 0:
        checks.append(Check("ExpectTableRowCountToBeBetween", {"min_value": min_rows},
                            f"at least {min_rows} row(s) (no previous run to compare volume with)"))

    for out in group.output_columns():
        feature = out.feature
        low_b = feature.bounds.min if feature.bounds else None
        high_b = feature.bounds.max if feature.bounds else None
        reasons: list[str] = []
        if feature.aggregation in NON_NEGATIVE_AGGREGATIONS:
            low_b = 0.0 if low_b is None else max(0.0, low_b)
            reasons.append(f"{feature.aggregation.value} >= 0")
        if feature.bounds is not None and (feature.bounds.min is not None or feature.bounds.max is not None):
            reasons.append(f"bounds of feature {feature.name}")
        if low_b is None and high_b is None:
            continue
        kwargs: dict[str, Any] = {"column": out.name}
        if low_b is not None:
            kwargs["min_value"] = low_b
        if high_b is not None:
            kwargs["max_value"] = high_b
        checks.append(Check("ExpectColumnValuesToBeBetween", kwargs, " and ".join(reasons)))

    for i, spec in enumerate(group.expectations):
        checks.append(Check(spec.expectation, dict(spec.kwargs), f"spec expectations[{i}]", dict(spec.meta)))
    return checks


def _spec_error(group: FeatureGroup, index: int, message: str) -> SpecError:
    name = group.expectations[index].expectation
    return SpecError(f"{name}: {message}", file=group.path or f"<feature group {group.name}>",
                     field=f"expectations[{index}]")


def _check_columns(group: FeatureGroup, index: int, kwargs: dict[str, Any]) -> None:
    columns = feature_table_columns(group)
    named: list[Any] = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
    for k in COLUMN_LIST_KWARGS:
        value = kwargs.get(k)
        if isinstance(value, list):
            named.extend(value)
    for col in named:
        if isinstance(col, str) and col not in columns:
            close = difflib.get_close_matches(col, columns, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _spec_error(group, index, f"column '{col}' is not in the feature table{hint}; "
                                             f"its columns are: {', '.join(columns)}")


def _pydantic_v1_problems(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        parts.append(f"{'kwargs.' + loc + ': ' if loc else ''}{err.get('msg')}")
    return "; ".join(parts)


def instantiate(check: Check, classes: dict[str, type[Any]], position: int = 0) -> Expectation:
    """The GX expectation object for ``check`` (raises KeyError / GX's validation error)."""
    cls = classes[check.expectation]
    meta = {**check.meta, "weir_origin": check.origin, "weir_check": position}
    obj: Expectation = cls(**check.kwargs, meta=meta)
    return obj


def build_expectations(group: FeatureGroup, checks: list[Check]) -> list[Expectation]:
    """GX expectation objects for ``checks``; spec problems raise SpecError naming file and expectation."""
    from weir.validate._gx import expectation_classes

    classes = expectation_classes()
    out: list[Expectation] = []
    for position, check in enumerate(checks):
        index = _spec_index(check)
        if index is not None:
            if check.expectation not in classes:
                close = difflib.get_close_matches(check.expectation, list(classes), n=2)
                hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
                raise _spec_error(group, index, f"unknown Great Expectations expectation '{check.expectation}'; "
                                                f"{hint}see great_expectations.expectations for the list")
            _check_columns(group, index, check.kwargs)
            try:
                out.append(instantiate(check, classes, position))
            except Exception as exc:  # GX validates kwargs with pydantic v1; surface its message
                raise _spec_error(group, index, f"bad kwargs {check.kwargs!r}: {_pydantic_v1_problems(exc)}") from None
        else:
            out.append(instantiate(check, classes, position))
    return out


def _spec_index(check: Check) -> int | None:
    prefix = "spec expectations["
    if check.origin.startswith(prefix):
        return int(check.origin[len(prefix):].rstrip("]"))
    return None


def build_suite(group: FeatureGroup, previous_row_count: int | None = None,
                volume_tolerance: float | None = DEFAULT_VOLUME_TOLERANCE, min_rows: int = 1) -> ExpectationSuite:
    """The GX ExpectationSuite for ``group`` (not yet bound to a data context)."""
    from weir.validate._gx import gx

    checks = plan_checks(group, previous_row_count, volume_tolerance, min_rows)
    expectations = build_expectations(group, checks)
    suite: ExpectationSuite = gx().ExpectationSuite(name=suite_name(group), expectations=expectations,
                                                    meta={"weir_group": group.name, "weir_spec_hash":
                                                          group.spec_hash()})
    return suite


def check_spec_expectations(group: FeatureGroup) -> None:
    """Raise SpecError if any spec-listed expectation is unknown or malformed (no Spark needed)."""
    build_expectations(group, [c for c in plan_checks(group, None, None, 0) if _spec_index(c) is not None])
