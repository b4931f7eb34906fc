"""Kafka records -> typed source rows, with an explicit validity check (never PERMISSIVE nulls).

Each Kafka value is parsed once with ``try_parse_json`` into a VARIANT; every declared column is then checked
against the JSON type it actually has (``schema_of_variant``), not only against what a lenient cast makes of
it. ``from_json`` would accept ``{"amount": "12"}`` for a double and ``{"user_id": 5}`` for a string (it turns
numbers into text), and returns a row of nulls for a payload that is not JSON at all; here each of those is a
reason. A record is **malformed** when:

* the value is not JSON, or not a JSON object;
* an entity key is missing, null or an empty string;
* the event time is missing/null, or a string that does not parse as a timestamp;
* a declared column holds a JSON value of another type (string for a number, number for a string, a number
  out of range for int/long, an unparseable timestamp/date string, an object or array...).

A JSON ``null`` or a missing non-key column is a valid NULL value. The reasons of a record are joined with
``"; "`` into ``reason`` (NULL for a valid record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.spec.models import ColumnType, FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

VARIANT_COL = "_weir_v"
REASON_COL = "reason"
KAFKA_META = ("topic", "partition", "offset", "kafka_ts")
VALUE_BIN = "value"
VALUE_STR = "value_str"

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


def _reason_checks(group: FeatureGroup, v: Column) -> list[Column]:
    """One string-or-NULL column per check (NULL = passed)."""
    from pyspark.sql import functions as F

    def when(cond: Column, text: Column | str) -> Column:
        return F.when(cond, text if not isinstance(text, str) else F.lit(text))

    is_object = F.coalesce(F.schema_of_variant(v).startswith("OBJECT"), F.lit(False))
    checks: list[Column] = [when(v.isNull(), "not JSON"), when(v.isNotNull() & ~is_object, "not a JSON object")]
    cols = group.source.columns
    et = group.event_time
    for name, ctype in cols.items():
        jt = _json_type(v, name)
        value = typed_value(v, name, ctype)
        missing = jt.isNull() | (jt == F.lit("VOID"))
        if name in group.key_columns:
            checks.append(when(is_object & missing, f"missing key {name}"))
            if ctype == ColumnType.STRING:
                checks.append(when(is_object & (value == F.lit("")), f"empty key {name}"))
        if name == et:
            checks.append(when(is_object & missing, f"null event time {name}"))
            checks.append(when(is_object & ~missing & ~type_ok(v, name, ctype),
                               F.concat(F.lit(f"unparseable event time {name}: "),
                                        F.coalesce(F.try_variant_get(v, _path(name), "string"), F.lit("?")))))
            continue
        checks.append(when(is_object & ~type_ok(v, name, ctype),
                           F.concat(F.lit(f"wrong type for {name}: expected {ctype.value}, got "),
                                    F.coalesce(jt, F.lit("?")))))
    return checks


def parse_records(kafka_df: DataFrame, group: FeatureGroup) -> DataFrame:
    """Kafka source rows -> declared columns (typed), Kafka metadata, raw value and ``reason``."""
    from pyspark.sql import functions as F

    raw = kafka_df.select(
        F.col("value").alias(VALUE_BIN), F.col("value").cast("string").alias(VALUE_STR),
        F.col("topic"), F.col("partition"), F.col("offset"), F.col("timestamp").alias("kafka_ts"))
    with_v = raw.withColumn(VARIANT_COL, F.try_parse_json(F.col(VALUE_STR)))
    v = F.col(VARIANT_COL)
    reasons = F.concat_ws("; ", *_reason_checks(group, v))
    typed = [typed_value(v, name, ctype).alias(name) for name, ctype in group.source.columns.items()]
    return with_v.select(
        *typed, *KAFKA_META, VALUE_BIN, VALUE_STR,
        F.when(reasons == F.lit(""), F.lit(None).cast("string")).otherwise(reasons).alias(REASON_COL))
