"""Feature tables and training sets read by pandas, Polars, Arrow and DuckDB (delta-rs) equal Spark's rows; the
catalog names them with the spec's comments and properties; the training doc's example runs as written."""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from weir.batch import backfill
from weir.runtime import RuntimeConfig, build_config, load_config
from weir.spec import find_spec
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 5, 1)
DAYS = 2


def _events() -> list[tuple[Any, ...]]:
    rnd = random.Random(20)
    return [(f"t{i}", f"u{rnd.randrange(8)}", rnd.choice(["m1", "m2", "m3"]), "grocery",
             round(rnd.uniform(1, 90), 2), rnd.choice(["approved", "declined"]),
             datetime(2026, 5, 1) + timedelta(seconds=rnd.randrange(DAYS * 86400))) for i in range(160)]


@pytest.fixture(scope="module")
def lake(spark, weir_config: RuntimeConfig, tmp_path_factory) -> Iterator[tuple[RuntimeConfig, FeatureGroup]]:  # type: ignore[no-untyped-def]
    """A private lake (the doc example reads the config from the environment) with user_spend backfilled."""
    before = os.environ.get("WEIR_LAKE_PATH")
    os.environ["WEIR_LAKE_PATH"] = str(tmp_path_factory.mktemp("catalog_lake"))
    load_config.cache_clear()
    config = build_config()
    group = find_spec("user_spend", ROOT / "feature_specs")
    spark.createDataFrame(_events(), group.source_schema_ddl()).write.format("delta").save(
        config.table_path("transactions"))
    backfill(spark, group, START, START + timedelta(days=DAYS - 1), config)
    yield config, group
    os.environ["WEIR_LAKE_PATH"] = before or weir_config.lake
    load_config.cache_clear()


def _utc(v: Any) -> Any:
    """Timestamps as Spark hands them to Python in a UTC session (naive UTC); NaN/NaT as None."""
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.astimezone(UTC).replace(tzinfo=None)
    if isinstance(v, float) and v != v:
        return None
    return v


def _rows(records: list[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    return sorted((tuple(_utc(r[c]) for c in columns) for r in records), key=repr)


def test_feature_table_reads_equal_sparks_rows(spark, lake) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    from weir.lake.paths import features_path
    from weir.training import TrainingSetError, feature_dataset, read_feature_table

    config, group = lake
    day = START + timedelta(days=1)
    spark_df = spark.read.format("delta").load(features_path(config, group.name)).where(f"ds = '{day}'")
    cols = [c for c in spark_df.columns if c != "ds"]
    expected = _rows([r.asDict() for r in spark_df.collect()], cols)
    assert len(expected) >= 5

    pandas = read_feature_table(group.name, as_of=day)
    assert _rows(pandas.to_dict("records"), cols) == expected
    polars = read_feature_table(group.name, as_of=day, engine="polars")
    assert _rows(polars.to_dicts(), cols) == expected
    arrow = read_feature_table(group.name, as_of=datetime(2026, 5, 3, 12), engine="arrow")  # newest run <= then
    assert _rows(arrow.to_pylist(), cols) == expected
    ds = feature_dataset(group.name, config=config)  # noqa: F841  (DuckDB scans it by name)
    duck = duckdb.sql(f"select * from ds where ds = DATE '{day}'").fetch_arrow_table().to_pylist()
    assert _rows(duck, cols) == expected
    newest = read_feature_table(group.name, engine="arrow")
    assert set(newest.column("ds").to_pylist()) == {START + timedelta(days=DAYS - 1)}

    with pytest.raises(TrainingSetError, match="no run for day 2026-04-01.*backfill"):
        read_feature_table(group.name, as_of=date(2026, 4, 1))
    with pytest.raises(TrainingSetError, match="no Delta table.*backfill"):
        read_feature_table("no_such_group")


def test_the_training_doc_example_runs_and_every_reader_returns_the_same_rows(spark, lake) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    from weir.training import TrainingSetError, read_training_set

    config, _ = lake
    text = (ROOT / "docs" / "training.md").read_text()
    block = re.search(r"<!-- example: spine-to-model -->\n```python\n(.*?)```", text, re.S)
    assert block, "docs/training.md lost its worked example"
    scope: dict[str, Any] = {}
    exec(compile(block.group(1), "docs/training.md", "exec"), scope)
    model, features = scope["model"], scope["features"]
    assert model.coef_.shape == (1, len(features))

    path = config.table_path("training/credit_v1")
    spark_rows = [r.asDict() for r in spark.read.format("delta").load(path).collect()]
    cols = list(spark_rows[0])
    expected = _rows(spark_rows, cols)
    assert len(expected) == 8
    assert _rows(scope["df"].to_dict("records"), cols) == expected
    assert _rows(read_training_set("credit_v1", engine="polars").to_dicts(), cols) == expected
    assert _rows(read_training_set(path, version=0, engine="arrow").to_pylist(), cols) == expected
    credit = read_training_set("credit_v1", engine="arrow")  # noqa: F841  (DuckDB scans it by name)
    assert _rows(duckdb.sql("select * from credit").fetch_arrow_table().to_pylist(), cols) == expected
    # ts.df is recomputed here: Spark may add a sum's doubles in another order (last-bit differences)
    rebuilt = _rows(scope["ts"].to_pandas().to_dict("records"), cols)
    assert len(rebuilt) == len(expected)
    for got, want in zip(rebuilt, expected, strict=True):
        assert all(math.isclose(g, w, rel_tol=1e-12) if isinstance(w, float) else g == w
                   for g, w in zip(got, want, strict=True)), (got, want)
    with pytest.raises(TrainingSetError, match="no training set named 'nope'.*known: credit_v1"):
        read_training_set("nope")


def test_catalog_registers_tables_with_comments_and_properties_idempotently(spark, lake) -> None:  # type: ignore[no-untyped-def]
    from weir.catalog import attach, register
    from weir.lake.delta import table_version
    from weir.lake.paths import features_path, tiles_path

    config, group = lake
    entries = register(spark, [group], config)
    names = {e.name for e in entries}
    assert {"weir.user_spend", "weir_tiles.user_spend", "weir_training.credit_v1"} <= names
    table = spark.table("weir.user_spend")
    assert table.count() == spark.read.format("delta").load(features_path(config, group.name)).count()
    comments = {f.name: f.metadata.get("comment") for f in table.schema.fields}
    assert comments["txn_amount_sum_7d"] == "sum of amount over 7d"
    assert comments["declined_count_1d"] == "count of * over 1d where status = 'declined'"
    assert comments["user_id"] == "entity key of user"
    props = {r["key"]: r["value"] for r in spark.sql("SHOW TBLPROPERTIES weir.user_spend").collect()}
    assert props["weir.owner"] == "ml-data" and props["weir.tags"] == "payments,consumer"
    detail = spark.sql("DESCRIBE DETAIL weir_tiles.user_spend").first()
    assert detail["description"].endswith("[tiles]")

    versions = {p: table_version(spark, p) for p in (features_path(config, group.name), tiles_path(config, group.name))}
    assert {e.name for e in register(spark, [group], config)} == names  # again: no new Delta version
    assert {p: table_version(spark, p) for p in versions} == versions

    from click.testing import CliRunner

    from weir.cli import cli

    out = CliRunner().invoke(cli, ["catalog", "register", "user_spend"])  # the same, from the command line
    assert out.exit_code == 0, out.output
    assert "weir.user_spend\tfeatures" in out.output and "weir_training.credit_v1\ttraining" in out.output
    assert {p: table_version(spark, p) for p in versions} == versions

    spark.sql("DROP TABLE weir.user_spend")  # external: the data stays; attach brings the name back
    assert "weir.user_spend" in {e.name for e in attach(spark, config)}
    assert spark.table("weir.user_spend").count() == table.count()
    assert {p: table_version(spark, p) for p in versions} == versions
