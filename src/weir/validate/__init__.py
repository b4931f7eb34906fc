"""Great Expectations gate for feature batches: suite from the spec, run, record, report, gate.

Cheap to import: Great Expectations and Spark are imported only when a suite is built or a batch validated.

>>> from weir.validate import validate_day, gate_or_raise
>>> gate_or_raise(validate_day(spark, "user_spend", date(2026, 3, 1), config))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.lazy import lazy_getattr
from weir.validate.outcome import ExpectationResult, ValidationFailed, ValidationOutcome, gate_or_raise

if TYPE_CHECKING:
    from weir.lake.paths import validation_runs_path
    from weir.validate.gate import (
        FeatureTableMissing,
        read_validation_runs,
        validate_batch,
        validate_day,
    )
    from weir.validate.suite import Check, build_suite, check_spec_expectations, plan_checks

_LAZY = {
    "FeatureTableMissing": "weir.validate.gate",
    "read_validation_runs": "weir.validate.gate",
    "validate_batch": "weir.validate.gate",
    "validate_day": "weir.validate.gate",
    "validation_runs_path": "weir.lake.paths",
    "Check": "weir.validate.suite",
    "build_suite": "weir.validate.suite",
    "check_spec_expectations": "weir.validate.suite",
    "plan_checks": "weir.validate.suite",
}

__all__ = [
    "Check",
    "ExpectationResult",
    "FeatureTableMissing",
    "ValidationFailed",
    "ValidationOutcome",
    "build_suite",
    "check_spec_expectations",
    "gate_or_raise",
    "plan_checks",
    "read_validation_runs",
    "validate_batch",
    "validate_day",
    "validation_runs_path",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
