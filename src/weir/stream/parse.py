"""Kafka records -> typed source rows, with an explicit validity check (never PERMISSIVE nulls).

Each Kafka value is parsed once with ``try_parse_json`` into a VARIANT; every declared column is then checked
against the JSON type it actually has (``schema_of_variant``), not only against what a lenient cast makes of
it. ``from_json`` would accept ``{"amount": "12"}`` for a double and ``{"user_id": 5}`` for a string (it turns
numbers into text), and returns a row of nulls for a payload that is not JSON at all; here each of those is a
reason. A record is **malformed** when:

* the value is not valid UTF-8, not JSON, or not a JSON object;
* an entity key is missing, null or an empty string;
* the event time is missing/null, or a string that does not parse as a timestamp;
* a declared column holds a JSON value of another type (string for a number, number for a string, a number
  out of range for int/long, an unparseable timestamp/date string, an object or array...).

A well-formed record then passes the rules shared with batch and training (:mod:`weir.compute.event_rules`):
finite numbers, an item key DynamoDB can store, an event time not beyond processing time +
``source.max_future``, an event id when ``source.event_id`` is declared.

A JSON ``null`` or a missing non-key column is a valid NULL value. The reasons of a record are joined with
``"; "`` into ``reason`` (NULL for a valid record); ``reason_codes`` holds their short codes (``not_json``,
``wrong_type``, ``non_finite``, ...), which the stream metrics count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.compute.event_rules import Check, combine, typed_checks
from weir.spec.models import ColumnType, FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

VARIANT_COL = "_weir_v"
REASON_COL = "reason"
KAFKA_META = ("topic", "partition", "offset", "kafka_ts")
VALUE_BIN = "value"
VALUE_STR = "value_str"
CODES_COL = "reason_codes"
_UTF8_OK = "_weir_utf8"
_NOW = "_weir_now"
_JSON_REASON = "_weir_json_reason"
_JSON_CODES = "_weir_json_codes"

_INTS = ("BIGINT", "INT", "SMALLINT", "TINYINT")
_SPARK_SQL_TYPE = {
    ColumnType.STRING: "string", ColumnType.INT: "int", ColumnType.LONG: "bigint",
    ColumnType.DOUBLE: "double", ColumnType.FLOAT: "float", ColumnType.BOOLEAN: "boolean",
    ColumnType.TIMESTAMP: "timestamp", ColumnType.DATE: "date",
}


def _path(column: str) -> str:
    return f"$.{column}"


def _json_type(v: Column, column: str) -> Column:
    """JSON type name of ``column`` in the record: NULL when absent, ``VOID`` for a JSON null."""
    from pyspark.sql import functions as F

    return F.schema_of_variant(F.variant_get(v, _path(column), "variant"))


def typed_value(v: Column, column: str, ctype: ColumnType) -> Column:
    """The value as the declared Spark type (NULL when absent, JSON null, or not convertible)."""
    from pyspark.sql import functions as F

    return F.try_variant_get(v, _path(column), _SPARK_SQL_TYPE[ctype])


def type_ok(v: Column, column: str, ctype: ColumnType) -> Column:
    """True when the JSON value fits the declared type (absent and JSON null count as fitting)."""
    from pyspark.sql import functions as F

    jt = _json_type(v, column)
    value = typed_value(v, column, ctype)
    absent = jt.isNull() | (jt == F.lit("VOID"))
    if ctype == ColumnType.STRING:
        fits = jt == F.lit("STRING")
    elif ctype in (ColumnType.INT, ColumnType.LONG):
        fits = jt.isin(*_INTS) & value.isNotNull()
    elif ctype in (ColumnType.DOUBLE, ColumnType.FLOAT):
        fits = (jt.isin(*_INTS, "DOUBLE", "FLOAT") | jt.startswith("DECIMAL")) & value.isNotNull()
    elif ctype == ColumnType.BOOLEAN:
        fits = jt == F.lit("BOOLEAN")
    else:  # timestamp / date: an ISO string that parses
        fits = (jt == F.lit("STRING")) & value.isNotNull()
    return absent | fits


def _json_checks(group: FeatureGroup, v: Column, utf8_ok: Column) -> list[Check]:
    """The checks of the JSON record against the declared columns (module doc)."""
    from pyspark.sql import functions as F

    is_object = F.coalesce(F.schema_of_variant(v).startswith("OBJECT"), F.lit(False))
    checks: list[Check] = [
        Check("not_utf8", ~utf8_ok, F.lit("not valid UTF-8")),
        Check("not_json", utf8_ok & v.isNull(), F.lit("not JSON")),
        Check("not_object", v.isNotNull() & ~is_object, F.lit("not a JSON object"))]
    et = group.event_time
    for name, ctype in group.source.columns.items():
        jt = _json_type(v, name)
        value = typed_value(v, name, ctype)
        missing = jt.isNull() | (jt == F.lit("VOID"))
        if name in group.key_columns:
            checks.append(Check("missing_key", is_object & missing, F.lit(f"missing key {name}")))
            if ctype == ColumnType.STRING:
                checks.append(Check("empty_key", is_object & (value == F.lit("")), F.lit(f"empty key {name}")))
        if name == et:
            checks.append(Check("missing_event_time", is_object & missing, F.lit(f"null event time {name}")))
            checks.append(Check("bad_event_time", is_object & ~missing & ~type_ok(v, name, ctype),
                                F.concat(F.lit(f"unparseable event time {name}: "),
                                         F.coalesce(F.try_variant_get(v, _path(name), "string"), F.lit("?")))))
            continue
        checks.append(Check("wrong_type", is_object & ~type_ok(v, name, ctype),
                            F.concat(F.lit(f"wrong type for {name}: expected {ctype.value}, got "),
                                     F.coalesce(jt, F.lit("?")))))
    return checks


def utf8_text(value: Column) -> Column:
    """Kafka value bytes as valid UTF-8 text (invalid bytes replaced by U+FFFD): the ``value_str`` column."""
    from pyspark.sql import functions as F

    return F.make_valid_utf8(value.cast("string"))


def parse_records(kafka_df: DataFrame, group: FeatureGroup, now: Column | None = None) -> DataFrame:
    """Kafka source rows -> declared columns (typed), Kafka metadata, raw value, ``reason`` and ``reason_codes``.

    ``now`` is the processing time the ``source.max_future`` rule compares event times with; the stream job
    passes the micro-batch's timestamp from Spark's offset log, so a replayed batch classifies the same.
    ``value_str`` is the value as valid UTF-8 (invalid bytes replaced by U+FFFD; ``value`` keeps the bytes).
    """
    from pyspark.sql import functions as F

    now = F.current_timestamp() if now is None else now
    text = F.col("value").cast("string")
    raw = kafka_df.select(
        F.col("value").alias(VALUE_BIN), utf8_text(F.col("value")).alias(VALUE_STR),
        F.coalesce(F.is_valid_utf8(text), F.lit(True)).alias(_UTF8_OK),
        F.col("topic"), F.col("partition"), F.col("offset"), F.col("timestamp").alias("kafka_ts"),
        now.alias(_NOW))
    # only valid UTF-8 is JSON (RFC 8259); Spark's parser would quietly replace the bad bytes
    with_v = raw.withColumn(VARIANT_COL, F.when(F.col(_UTF8_OK), F.try_parse_json(F.col(VALUE_BIN).cast("string"))))
    v = F.col(VARIANT_COL)
    json_reason, json_codes = combine(_json_checks(group, v, F.col(_UTF8_OK)))
    typed = [typed_value(v, name, ctype).alias(name) for name, ctype in group.source.columns.items()]
    first = with_v.select(*typed, *KAFKA_META, VALUE_BIN, VALUE_STR, _NOW,
                          json_reason.alias(_JSON_REASON), json_codes.alias(_JSON_CODES))
    # the shared rules only for records that are well-formed JSON of the declared types
    well_formed = F.col(_JSON_REASON).isNull()
    shared = [Check(c.code, well_formed & c.failed, c.text) for c in typed_checks(group, F.col(_NOW))]
    typed_reason, typed_codes = combine(shared)
    reason = F.coalesce(F.col(_JSON_REASON), typed_reason)
    codes = F.when(well_formed, typed_codes).otherwise(F.col(_JSON_CODES))
    return first.select(*group.source.columns, *KAFKA_META, VALUE_BIN, VALUE_STR,
                        reason.alias(REASON_COL), codes.alias(CODES_COL))
