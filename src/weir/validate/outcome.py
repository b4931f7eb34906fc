"""What a validation run found: per-expectation results, the outcome of a batch, and the failure to raise."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

MAX_OFFENDING_ROWS = 5


def jsonable(value: Any) -> Any:
    """``value`` with dates, timestamps, decimals and Spark Rows made JSON-friendly."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "asDict"):
        return jsonable(value.asDict(recursive=True))
    if isinstance(value, float) and value != value:  # NaN
        return "NaN"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class ExpectationResult:
    """The result of one expectation on one batch."""

    expectation: str  # GX type, e.g. expect_column_values_to_not_be_null
    kwargs: dict[str, Any]
    origin: str  # why Weir checks it: "entity key user_id is not null", "spec expectations[1]", ...
    success: bool
    observed: str  # human-readable observed value
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_sample: list[Any] = field(default_factory=list)  # GX partial_unexpected_list
    offending_rows: list[dict[str, Any]] = field(default_factory=list)
    exception: str | None = None
    position: int = 0  # order in the suite

    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.expectation}({args})"

    def describe(self) -> str:
        """One line (plus offending rows) for logs and exception messages."""
        text = f"{self.label()} [{self.origin}]: observed {self.observed}"
        if self.offending_rows:
            rows = "; ".join(json.dumps(r, default=str, sort_keys=False) for r in self.offending_rows)
            text += f"; offending rows: {rows}"
        elif self.unexpected_sample:
            text += f"; unexpected values: {json.dumps(jsonable(self.unexpected_sample), default=str)}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "expectation": self.expectation,
            "kwargs": jsonable(self.kwargs),
            "origin": self.origin,
            "success": self.success,
            "observed": self.observed,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "unexpected_sample": jsonable(self.unexpected_sample),
            "offending_rows": jsonable(self.offending_rows),
        }
        if self.exception:
            out["exception"] = self.exception
        return out


@dataclass
class ValidationOutcome:
    """The verdict on one batch of a feature group; ``success`` gates publication."""

    group: str
    ds: date
    run_ts: datetime
    suite: str
    success: bool
    results: list[ExpectationResult]
    statistics: dict[str, Any]
    row_count: int
    previous_row_count: int | None = None
    feature_table_version: int | None = None
    validated_at: datetime | None = None
    report_path: Path | None = None  # <state_dir>/reports/<group>/<ds>/index.html (latest run of that day)
    run_report_path: Path | None = None  # the immutable copy of this run's report
    gx_data_docs_path: Path | None = None  # GX's own Data Docs page, when asked for
    spec_file: str | None = None

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def failed_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.failed]

    def headline(self) -> str:
        verdict = "PASSED" if self.success else "FAILED"
        n = len(self.results)
        bad = len(self.failed)
        version = "" if self.feature_table_version is None else f", feature table version {self.feature_table_version}"
        return (f"validation {verdict}: {self.group} ds={self.ds.isoformat()} ({self.row_count} rows{version}): "
                f"{n - bad}/{n} expectations passed")

    def summary_lines(self) -> list[str]:
        lines = [self.headline()]
        for r in self.failed:
            lines.append(f"  FAILED {r.describe()}")
        if self.report_path is not None:
            lines.append(f"report: {self.report_path}")
        if self.gx_data_docs_path is not None:
            lines.append(f"GX data docs: {self.gx_data_docs_path}")
        return lines

    def message(self) -> str:
        return "\n".join(self.summary_lines())


class ValidationFailed(Exception):
    """A batch failed its expectations; ``.outcome`` holds every failure with observed values and rows."""

    def __init__(self, outcome: ValidationOutcome) -> None:
        self.outcome = outcome
        super().__init__(outcome.message())


def gate_or_raise(outcome: ValidationOutcome) -> ValidationOutcome:
    """Return ``outcome`` when it passed; raise :class:`ValidationFailed` otherwise (never publish a bad batch).

    >>> gate_or_raise(validate_day(spark, "user_spend", date(2026, 10, 31)))
    """
    if outcome.success is not True:
        raise ValidationFailed(outcome)
    return outcome
