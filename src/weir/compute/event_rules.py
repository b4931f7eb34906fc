"""Rules every event must pass in batch, stream and training alike (Spark columns over typed source rows).

The stream parser (``weir.stream.parse``) first checks each JSON record against the declared types; the batch
source read (``weir.batch.source``) gets typed rows from Delta. Both then apply :func:`typed_checks` here, so a
rule has one definition:

* ``non_finite``: a double/float value that is NaN or infinite (JSON ``1e400`` parses to infinity, a double too
  big for a ``float`` column becomes infinity) would poison every sum and average it enters;
* ``key_too_long``: the item key ``pk`` (key values rendered as :mod:`weir.online.keys` does, joined by ``|``)
  is longer than DynamoDB's 2048-byte partition-key limit, so the entity could never be served;
* ``future_event_time``: the event time is beyond *now* + ``source.max_future`` (a producer's clock bug); such
  an event would move the stream's high-water mark and make every later event late;
* ``missing_event_id`` / ``empty_event_id``: with ``source.event_id`` declared every event needs one.

Duplicates (``source.event_id``): copies with the same event id whose event times fall in the same *event day*
(the batch run day ``(d 00:00, d+1 00:00]`` UTC, :func:`event_day`) are one event; the copy kept is the first
by :func:`dedup_order`. Retries and redeliveries are exact copies (same event time), so the day is the dedup
horizon that every path (a day's batch run, a backfill, the stream's event log, training) can apply the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from weir.spec.models import ColumnType, FeatureGroup

MAX_PK_BYTES = 2048  # DynamoDB's limit for a partition key value (the online item key, ``weir.online.keys``)

if TYPE_CHECKING:
    from pyspark.sql import Column

NON_FINITE = "non_finite"
KEY_TOO_LONG = "key_too_long"
FUTURE_EVENT_TIME = "future_event_time"
MISSING_EVENT_ID = "missing_event_id"
EMPTY_EVENT_ID = "empty_event_id"
DUPLICATE_EVENT_ID = "duplicate_event_id"

_FLOATS = (ColumnType.DOUBLE, ColumnType.FLOAT)


class Check(NamedTuple):
    """A rule: ``failed`` is true when the row breaks it (NULL counts as passing), ``text`` says why."""

    code: str
    failed: Column
    text: Column


def _rendered_len(name: str, ctype: ColumnType) -> Column:
    """Bytes of one key value as ``weir.online.keys.render_key_value`` writes it (UTF-8)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType

    c = F.col(name)
    if ctype == ColumnType.STRING:  # ``\\`` and ``|`` get a backslash each
        return F.octet_length(c) + F.length(c) - F.length(F.regexp_replace(c, r"[\\|]", ""))
    if ctype in (ColumnType.INT, ColumnType.LONG):
        return F.length(c.cast("string"))
    if ctype == ColumnType.BOOLEAN:
        return F.when(c, F.lit(4)).otherwise(F.lit(5))
    if ctype == ColumnType.DATE:
        return F.length(F.date_format(c, "yyyy-MM-dd"))
    if ctype == ColumnType.TIMESTAMP:
        return F.length(F.unix_micros(c).cast("string"))
    # doubles: Python's repr (shortest round-trip form) has no Spark twin; rare as keys, so a small UDF
    return F.udf(lambda v: None if v is None else len(repr(float(v))), IntegerType())(c)


def pk_bytes(group: FeatureGroup) -> Column:
    """Length in bytes of the entity's item key ``pk`` (NULL when a key is NULL)."""
    total: Column | None = None
    for k in group.key_columns:
        part = _rendered_len(k, group.source.columns[k])
        total = part if total is None else total + 1 + part
    assert total is not None
    return total


def event_day(ts: Column) -> Column:
    """The batch run day of an event time: the day ``d`` with ``ts`` in ``(d 00:00, d+1 00:00]``."""
    from pyspark.sql import functions as F

    return F.to_date(F.timestamp_micros(F.unix_micros(ts) - 1))


def typed_checks(group: FeatureGroup, now: Column) -> list[Check]:
    """The shared rules (module doc) over rows with the declared columns, typed; ``now`` is processing time."""
    from pyspark.sql import functions as F

    checks: list[Check] = []
    for name, ctype in group.source.columns.items():
        if ctype in _FLOATS:
            c = F.col(name)
            bad = F.isnan(c) | (c == F.lit(float("inf"))) | (c == F.lit(float("-inf")))
            checks.append(Check(NON_FINITE, bad, F.concat(
                F.lit(f"non-finite value for {name} ({ctype.value}): "), c.cast("string"))))
    size = pk_bytes(group)
    checks.append(Check(KEY_TOO_LONG, size > F.lit(MAX_PK_BYTES), F.concat(
        F.lit("entity key is "), size.cast("string"),
        F.lit(f" bytes, longer than DynamoDB's {MAX_PK_BYTES}-byte key limit"))))
    et = F.col(group.event_time)
    horizon = F.timestamp_micros(F.unix_micros(now) + F.lit(group.source.max_future_us))
    checks.append(Check(FUTURE_EVENT_TIME, et > horizon, F.concat(
        F.lit(f"event time {group.event_time} "), et.cast("string"),
        F.lit(f" is more than source.max_future ({group.source.max_future}) after processing time "),
        now.cast("string"))))
    eid = group.source.event_id
    if eid is not None:
        checks.append(Check(MISSING_EVENT_ID, F.col(eid).isNull(), F.lit(f"missing event id {eid}")))
        if group.source.columns[eid] == ColumnType.STRING:
            checks.append(Check(EMPTY_EVENT_ID, F.col(eid) == F.lit(""), F.lit(f"empty event id {eid}")))
    return checks


def dedup_order(group: FeatureGroup) -> list[Column]:
    """Which copy of a duplicated event is kept: the earliest event time, then the smallest values (so the
    choice does not depend on file or partition order)."""
    from pyspark.sql import functions as F

    cols = [group.event_time, *(c for c in group.source.columns if c != group.event_time)]
    return [F.col(c).asc_nulls_first() for c in cols]


def copy_rank(group: FeatureGroup, among: Column | None = None) -> Column:
    """1 for the kept copy of each (event id, event day), 2.. for the duplicates (needs ``source.event_id``);
    ``among`` splits the rows further (e.g. only valid rows compete)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    eid = group.source.event_id
    assert eid is not None, "copy_rank needs source.event_id"
    by = [F.col(eid), event_day(F.col(group.event_time))] + ([] if among is None else [among])
    window = Window.partitionBy(*by).orderBy(*dedup_order(group))
    return F.row_number().over(window)


def combine(checks: list[Check]) -> tuple[Column, Column]:
    """(reason: the failed checks' texts joined with ``"; "``, NULL when none; codes: distinct failed codes)."""
    from pyspark.sql import functions as F

    texts = [F.when(F.coalesce(c.failed, F.lit(False)), c.text) for c in checks]
    codes = [F.when(F.coalesce(c.failed, F.lit(False)), F.lit(c.code)) for c in checks]
    joined = F.concat_ws("; ", *texts)
    reason = F.when(joined == F.lit(""), F.lit(None).cast("string")).otherwise(joined)
    return reason, F.array_distinct(F.filter(F.array(*codes), lambda x: x.isNotNull()))
