"""Reading a group's Delta source for exactly a range of days, with schema checks and quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from weir.compute.event_rules import Check, combine, copy_rank, event_day, typed_checks
from weir.compute.layout import run_time
from weir.lake.delta import table_exists
from weir.lake.paths import PARTITION_COL, source_path
from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class SourceSchemaError(ValueError):
    """The Delta source does not match what the spec declares."""


REASON_COL = "reason"


@dataclass(frozen=True)
class SourceSlice:
    """The rows of a range read once: valid events have a NULL ``reason``, rejected rows say why."""

    rows: DataFrame

    @property
    def events(self) -> DataFrame:
        from pyspark.sql import functions as F

        return self.rows.where(F.col(REASON_COL).isNull()).drop(REASON_COL)

    @property
    def rejected(self) -> DataFrame:
        from pyspark.sql import functions as F

        return self.rows.where(F.col(REASON_COL).isNotNull())

    def counts(self) -> tuple[int, int]:
        """(events, rejected rows), in one Spark job."""
        from pyspark.sql import functions as F

        row = self.rows.agg(F.count(F.lit(1)), F.count(F.col(REASON_COL))).first()
        assert row is not None
        return int(row[0]) - int(row[1]), int(row[1])


def day_start(d: date) -> datetime:
    """00:00 UTC of ``d``, naive (to compare with the naive UTC times Spark and the Delta log statistics give)."""
    return datetime.combine(d, time(0))


def check_source_schema(group: FeatureGroup, df: DataFrame, path: str) -> None:
    """Fail before any job runs if a declared column is missing or has another type, naming both types."""
    from weir.compute.spark_agg import spark_type

    actual = {f.name: f.dataType for f in df.schema.fields}
    problems = []
    for name, ctype in group.source.columns.items():
        expected = spark_type(ctype.value)
        if name not in actual:
            problems.append(f"column '{name}' is declared in the spec as {ctype.value} but the table has no such "
                            f"column (it has: {', '.join(sorted(actual))})")
        elif actual[name] != expected:
            problems.append(f"column '{name}' is {actual[name].simpleString()} in the table but "
                            f"{expected.simpleString()} in the spec")
    if problems:
        raise SourceSchemaError(
            f"source {path} does not match spec {group.path or group.name} (source.columns):\n  - "
            + "\n  - ".join(problems) + "\nFix the spec's source.columns or the table, then rerun.")


def classify(rows: DataFrame, group: FeatureGroup, keep: Sequence[str] = ()) -> DataFrame:
    """The declared columns of source ``rows`` (and the columns ``keep``) and ``reason`` (NULL for an event; else
    why it is rejected).

    Not events: a NULL event time or key, and what breaks a rule shared with the stream
    (:mod:`weir.compute.event_rules`: non-finite numbers, a key too long for DynamoDB, an event time beyond
    now + ``source.max_future``, a missing event id). With ``source.event_id``, copies of an event (same id
    and event day) are rejected as duplicates but the first (``event_rules.dedup_order``).
    """
    from pyspark.sql import functions as F

    ts = F.col(group.event_time)
    key_null = F.lit(False)
    for k in group.key_columns:
        key_null = key_null | F.col(k).isNull()
    checks = [Check("missing_event_time", ts.isNull(), F.lit(f"null event time ({group.event_time})")),
              Check("missing_key", key_null, F.lit(f"null key ({', '.join(group.key_columns)})")),
              *typed_checks(group, F.current_timestamp())]
    reason, _ = combine(checks)
    out = rows.select(*group.source.columns, *keep, reason.alias(REASON_COL))
    eid = group.source.event_id
    if eid is None:
        return out
    valid = F.col(REASON_COL).isNull()
    duplicate = valid & (copy_rank(group, among=valid) > F.lit(1))
    text = F.concat(F.lit(f"duplicate event id {eid} "), F.col(eid).cast("string"), F.lit(" on event day "),
                    event_day(ts).cast("string"), F.lit(": an earlier copy is kept"))
    return out.select(*group.source.columns, *keep,
                      F.when(duplicate, text).otherwise(F.col(REASON_COL)).alias(REASON_COL))


def valid_events(rows: DataFrame, group: FeatureGroup, keep: Sequence[str] = ()) -> DataFrame:
    """The events of source ``rows`` (:func:`classify`'s rejects left out): what training sets read."""
    from pyspark.sql import functions as F

    return classify(rows, group, keep).where(F.col(REASON_COL).isNull()).drop(REASON_COL)


def read_source(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, first: date, last: date,
                ) -> SourceSlice:
    """Events with event time in (first 00:00, (last + 1) 00:00] (the tiles ending in days first..last).

    Rows :func:`classify` rejects are not events: they go to ``rejected`` with the reason. A NULL event time
    cannot be placed in a day by itself; such rows are attributed to the range through the source's ``ds`` column
    when it has one (else every run reports them again, which is harmless for an overwrite).
    """
    from pyspark.sql import functions as F

    if not group.source.delta:
        raise SourceSchemaError(f"group '{group.name}' has no source.delta table: batch needs one")
    path = source_path(config, group.source.delta)
    if not table_exists(spark, path):
        raise SourceSchemaError(f"source table {path} of group '{group.name}' does not exist (or is not Delta); "
                                f"create it, or fix source.delta in {group.path or 'the spec'}")
    raw = spark.read.format("delta").load(path)
    check_source_schema(group, raw, path)
    ts = F.col(group.event_time)
    lo, hi = run_time(first - timedelta(days=1)), run_time(last)
    in_range = (ts > F.lit(lo)) & (ts <= F.lit(hi))
    null_ts = ts.isNull()
    if PARTITION_COL in raw.columns:
        null_ts = null_ts & (F.col(PARTITION_COL) >= F.lit(first)) & (F.col(PARTITION_COL) <= F.lit(last))
    # One scan: in-range rows (events or rejects) and the null-event-time rows of the range. Copies of an event
    # share its event time, so they are in the same range (dedup needs nothing outside it).
    return SourceSlice(classify(raw.where(in_range | null_ts), group))
