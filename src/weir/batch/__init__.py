"""The batch engine: Delta source -> tiles -> feature rows per run time, idempotent and incremental."""

from weir.batch.backfill import BackfillSummary, backfill, run_day
from weir.batch.source import SourceSchemaError
from weir.compute.layout import run_time

__all__ = ["BackfillSummary", "SourceSchemaError", "backfill", "run_day", "run_time"]
