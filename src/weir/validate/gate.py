"""Run a feature group's suite on a batch with Great Expectations, record it, and gate publication on it.

Every run is persisted: a row appended to the Delta table ``_weir/validation_runs``, which carries the
self-contained HTML report (``report_html``: any host reads it from the lake, the Weir view serves it), and the
same report on the validating host's disk under ``<state_dir>/reports/<group>/<ds>/index.html``. Callers gate
on ``outcome.success`` (or :func:`~weir.validate.outcome.gate_or_raise`), never on GX's own behaviour.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weir.compute.layout import run_time
from weir.lake.paths import PARTITION_COL, RUN_TS_COL, validation_runs_path
from weir.runtime import RuntimeConfig, load_config
from weir.spec.loader import as_group
from weir.spec.models import FeatureGroup
from weir.validate.outcome import MAX_OFFENDING_ROWS, ExpectationResult, ValidationOutcome, jsonable
from weir.validate.suite import DEFAULT_VOLUME_TOLERANCE, build_suite, suite_name

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

VALIDATION_RUNS_DDL = (
    "`group` STRING, ds DATE, run_ts TIMESTAMP, suite STRING, success BOOLEAN, statistics STRING, "
    "failed_expectations STRING, report_path STRING, feature_table_version BIGINT, row_count BIGINT, "
    "previous_row_count BIGINT, spec_hash STRING, validated_at TIMESTAMP, report_html STRING"
)


class FeatureTableMissing(FileNotFoundError):
    """The feature table to validate does not exist yet."""




# ---- offending rows ----------------------------------------------------------------------------------------

def _offending_filter(expectation: str, kwargs: dict[str, Any], df: DataFrame) -> Column | None:
    """A Spark condition selecting the rows that break the expectation, for the common map expectations."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    column = kwargs.get("column")
    if isinstance(column, str) and column not in df.columns:
        return None
    cond: Column | None = None
    if expectation == "expect_column_values_to_not_be_null" and column:
        cond = F.col(column).isNull()
    elif expectation == "expect_column_values_to_be_null" and column:
        cond = F.col(column).isNotNull()
    elif expectation in ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique",
                         "expect_multicolumn_values_to_be_unique"):
        cols = kwargs.get("column_list") or ([column] if column else [])
        if not cols or any(c not in df.columns for c in cols):
            return None
        cond = F.count(F.lit(1)).over(Window.partitionBy(*[F.col(c) for c in cols])) > 1
    elif expectation == "expect_column_values_to_be_between" and column:
        c = F.col(column)
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        ok = F.lit(True)
        if low is not None:
            ok = ok & ((c > F.lit(low)) if kwargs.get("strict_min") else (c >= F.lit(low)))
        if high is not None:
            ok = ok & ((c < F.lit(high)) if kwargs.get("strict_max") else (c <= F.lit(high)))
        cond = c.isNotNull() & ~ok
    elif expectation == "expect_column_values_to_be_in_set" and column and kwargs.get("value_set") is not None:
        cond = F.col(column).isNotNull() & ~F.col(column).isin(list(kwargs["value_set"]))
    elif expectation == "expect_column_values_to_not_be_in_set" and column and kwargs.get("value_set") is not None:
        cond = F.col(column).isin(list(kwargs["value_set"]))
    elif expectation == "expect_column_values_to_match_regex" and column and kwargs.get("regex"):
        cond = F.col(column).isNotNull() & ~F.col(column).rlike(str(kwargs["regex"]))
    elif expectation == "expect_column_values_to_not_match_regex" and column and kwargs.get("regex"):
        cond = F.col(column).rlike(str(kwargs["regex"]))
    elif expectation == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs.get("column_A"), kwargs.get("column_B")
        if a in df.columns and b in df.columns:
            gt = (F.col(str(a)) >= F.col(str(b))) if kwargs.get("or_equal") else (F.col(str(a)) > F.col(str(b)))
            cond = F.col(str(a)).isNotNull() & F.col(str(b)).isNotNull() & ~gt
    if cond is None:
        return None
    row_condition = kwargs.get("row_condition")
    if row_condition:
        if kwargs.get("condition_parser") != "spark":
            return None
        cond = F.expr(str(row_condition)) & cond
    return cond


def _offending_rows(df: DataFrame, group: FeatureGroup, expectation: str,
                    kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F

    cond = _offending_filter(expectation, kwargs, df)
    if cond is None:
        return []
    shown = [*group.key_columns, RUN_TS_COL]
    for k in ("column", "column_A", "column_B"):
        if isinstance(kwargs.get(k), str):
            shown.append(kwargs[k])
    shown += [c for c in kwargs.get("column_list") or [] if isinstance(c, str)]
    cols = [c for c in dict.fromkeys(shown) if c in df.columns]
    flag = "__weir_offending"  # via a column: the uniqueness condition is a window function, not allowed in WHERE
    rows = df.withColumn(flag, cond).where(F.col(flag)).select(*cols).limit(MAX_OFFENDING_ROWS).collect()
    return [jsonable(r.asDict(recursive=True)) for r in rows]


# ---- GX result -> Weir results ------------------------------------------------------------------------------

def _observed(result: dict[str, Any], exception: str | None) -> str:
    if exception:
        return f"error: {exception.strip().splitlines()[-1] if exception.strip() else exception}"
    if "observed_value" in result:
        return json.dumps(jsonable(result["observed_value"]), default=str)
    if "unexpected_count" in result:
        total = result.get("element_count")
        pct = result.get("unexpected_percent")
        text = f"{result['unexpected_count']} of {total} rows unexpected"
        if isinstance(pct, int | float):
            text += f" ({pct:.1f}%)"
        sample = result.get("partial_unexpected_list")
        if sample:
            text += f", e.g. {json.dumps(jsonable(sample[:MAX_OFFENDING_ROWS]), default=str)}"
        return text
    return json.dumps(jsonable(result), default=str) if result else "nothing (no result)"


def _convert(res: Any, df: DataFrame, group: FeatureGroup) -> ExpectationResult:
    d: dict[str, Any] = res.to_json_dict()
    config = d.get("expectation_config") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"}
    meta = config.get("meta") or {}
    result = d.get("result") or {}
    info = d.get("exception_info") or {}
    exception = info.get("exception_message") if info.get("raised_exception") else None
    success = bool(d.get("success"))
    expectation = str(config.get("type"))
    out = ExpectationResult(
        expectation=expectation,
        kwargs=jsonable(kwargs),
        origin=str(meta.get("weir_origin", "")),
        success=success,
        observed=_observed(result, exception),
        unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"),
        unexpected_sample=jsonable(result.get("partial_unexpected_list") or [])[:20],
        exception=exception,
        position=int(meta.get("weir_check", 0)),
    )
    if not success and not exception:
        out.offending_rows = _offending_rows(df, group, expectation, kwargs)
    return out


# ---- persistence --------------------------------------------------------------------------------------------

def record_outcome(spark: SparkSession, outcome: ValidationOutcome, config: RuntimeConfig,
                   spec_hash: str | None = None) -> None:
    """Append ``outcome`` with its HTML report to the Delta table ``_weir/validation_runs`` (created on first use;
    a table written before reports were kept in it gains the column)."""
    from weir.validate.report import render_html

    row = (
        outcome.group, outcome.ds, outcome.run_ts, outcome.suite, bool(outcome.success),
        json.dumps(outcome.statistics, default=str), json.dumps(outcome.failed_json(), default=str),
        str(outcome.run_report_path or outcome.report_path or ""), outcome.feature_table_version,
        outcome.row_count, outcome.previous_row_count, spec_hash, outcome.validated_at, render_html(outcome),
    )
    df = spark.createDataFrame([row], VALIDATION_RUNS_DDL)
    df.write.format("delta").mode("append").option("mergeSchema", "true").save(validation_runs_path(config))


def read_validation_runs(spark: SparkSession, config: RuntimeConfig | None = None,
                         group: str | None = None) -> DataFrame | None:
    """The ``_weir/validation_runs`` table (optionally one group's rows), or None before the first run."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists

    config = config or load_config()
    path = validation_runs_path(config)
    if not table_exists(spark, path):
        return None
    df = spark.read.format("delta").load(path)
    return df.where(F.col("group") == group) if group else df


def _build_gx_data_docs(context: Any, config: RuntimeConfig, suite: str) -> Path | None:
    """GX's own Data Docs site (needs internet for its CSS/JS) under ``<state_dir>/reports/_gx_data_docs``."""
    site = config.state_dir / "reports" / "_gx_data_docs"
    context.add_data_docs_site(site_name="weir", site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    context.build_data_docs(site_names=["weir"])
    pages = sorted((site / "validations" / suite).rglob("*.html"), key=lambda p: p.stat().st_mtime)
    return pages[-1] if pages else None


# ---- entry points -------------------------------------------------------------------------------------------

def validate_batch(spark: SparkSession, group: FeatureGroup | str, df: DataFrame, ds: date,
                   config: RuntimeConfig | None = None, previous_row_count: int | None = None, *,
                   feature_table_version: int | None = None,
                   volume_tolerance: float | None = DEFAULT_VOLUME_TOLERANCE,
                   record: bool = True, gx_data_docs: bool = False) -> ValidationOutcome:
    """Validate one batch (a feature-table partition) of ``group`` and persist the result.

    ``previous_row_count`` (the previous run's row count) turns on the volume check (+-``volume_tolerance``).
    Returns the outcome; it does not raise on failure (use :func:`gate_or_raise`). A spec expectation that GX
    does not know, or with bad kwargs, raises SpecError before anything runs.
    """
    from weir.validate._gx import gx, quiet_context

    config = config or load_config()
    group = as_group(group, config.specs_dir)
    suite = build_suite(group, previous_row_count, volume_tolerance)  # spec errors surface here
    ge = gx()
    validated_at = datetime.now(UTC)
    df = df.persist()
    try:
        row_count = df.count()
        context = ge.get_context(mode="ephemeral")
        quiet_context(context)
        # Weir persists the batch itself (it is read again for offending rows), so GX must not cache it again
        asset = context.data_sources.add_spark(name="weir", persist=False).add_dataframe_asset(name=group.name)
        batch_definition = asset.add_batch_definition_whole_dataframe("whole_batch")
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(
            ge.ValidationDefinition(name=f"{suite.name}_{ds.isoformat()}", data=batch_definition, suite=suite))
        result = definition.run(batch_parameters={"dataframe": df}, result_format="BASIC")
        results = [_convert(r, df, group) for r in result.results]
        # gate on success explicitly: every expectation must have succeeded
        success = bool(result.success) and all(r.success for r in results) and len(results) == len(suite.expectations)
        statistics = {**jsonable(dict(result.statistics)), "row_count": row_count}
        docs = _build_gx_data_docs(context, config, suite.name) if gx_data_docs else None
    finally:
        df.unpersist()

    results.sort(key=lambda r: r.position)
    outcome = ValidationOutcome(
        group=group.name, ds=ds, run_ts=run_time(ds), suite=suite_name(group), success=success,
        results=results, statistics=statistics, row_count=row_count, previous_row_count=previous_row_count,
        feature_table_version=feature_table_version, validated_at=validated_at, gx_data_docs_path=docs,
        spec_file=group.path,
    )
    from weir.validate.report import write_report

    outcome.report_path, outcome.run_report_path = write_report(outcome, config)
    if record:
        record_outcome(spark, outcome, config, group.spec_hash())
    return outcome


def previous_partition_count(df: DataFrame, ds: date) -> int | None:
    """Row count of the newest ``ds`` partition before ``ds`` in the feature table ``df`` (None if none)."""
    from pyspark.sql import functions as F

    row = (df.where(F.col(PARTITION_COL) < F.lit(ds)).groupBy(PARTITION_COL).count()
           .orderBy(F.col(PARTITION_COL).desc()).limit(1).first())
    return None if row is None else int(row["count"])


def validate_day(spark: SparkSession, group: FeatureGroup | str, ds: date, config: RuntimeConfig | None = None,
                 *, volume_tolerance: float | None = DEFAULT_VOLUME_TOLERANCE, record: bool = True,
                 gx_data_docs: bool = False) -> ValidationOutcome:
    """Validate the partition ``ds`` of ``features/<group>`` as of the table's current Delta version.

    The version is pinned (time travel) so the outcome names exactly the data it validated; the volume check
    compares with the newest earlier partition. An empty partition fails (row count 0).

    >>> outcome = validate_day(get_spark(), "user_spend", date(2026, 10, 31))
    >>> outcome.success, outcome.feature_table_version, outcome.report_path
    """
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists, table_version
    from weir.lake.paths import features_path

    config = config or load_config()
    group = as_group(group, config.specs_dir)
    path = features_path(config, group.name)
    if not table_exists(spark, path):
        raise FeatureTableMissing(f"feature table of {group.name} does not exist at {path}; "
                                  f"compute it first (batch run for {ds.isoformat()})")
    version = table_version(spark, path)
    table = spark.read.format("delta").option("versionAsOf", version).load(path)
    batch = table.where(F.col(PARTITION_COL) == F.lit(ds))
    previous = previous_partition_count(table, ds)
    return validate_batch(spark, group, batch, ds, config, previous, feature_table_version=version,
                          volume_tolerance=volume_tolerance, record=record, gx_data_docs=gx_data_docs)
