"""Every delta-rs access of the lake (``weir.lake.delta_log.open_table`` and its users) on an ``s3a://`` lake
(a moto S3 server), configured only by the ``RuntimeConfig`` passed in: the process's own config (``WEIR_*``)
points at a local lake and knows no S3 endpoint, so a reader that fell back to it would fail here.

No Spark: the stream's metrics row and log version, idempotent appends by transaction id, the run-status
table, the training-set readers (pandas) and the catalog's lineage lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cluster_support import AWS_ENV, moto_s3

from weir.lake.delta_log import app_version, delta_rs_options, delta_rs_uri, open_table
from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration

BUCKET = "weir-delta-rs"


@pytest.fixture(scope="module")
def s3_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeConfig]:
    with moto_s3(tmp_path_factory.mktemp("moto-s3"), BUCKET) as endpoint, pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():  # the AWS chain delta-rs reads: never the config
            mp.setenv(key, value)
        mp.delenv("WEIR_S3_ENDPOINT", raising=False)
        yield build_config(lake_path=f"s3a://{BUCKET}/lake", s3_endpoint=endpoint, s3_path_style_access=True,
                           s3_region=AWS_ENV["AWS_REGION"], state_dir=str(tmp_path_factory.mktemp("state")))


def _metrics_row(batch_id: int) -> dict[str, Any]:
    t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return {"group": "g", "query_id": "q1", "batch_id": batch_id, "started_at": t, "finished_at": t,
            "seconds": 1.5, "input_rows": 10, "valid_rows": 9, "dead_lettered": 1, "late": 0, "rows_per_s": 6.7,
            "entities_written": 3 + batch_id, "entities_skipped_replay": 0, "write_conflicts": 0,
            "newest_event_ts": None, "freshness_s": None, "high_water_mark": None, "watermark": None,
            "events_version": None, "drops": {}}


def test_the_process_config_alone_cannot_reach_this_lake(s3_config: RuntimeConfig) -> None:
    """The premise of this module: a reader that ignored the passed config would ask AWS's own endpoint."""
    from weir.runtime import load_config

    load_config.cache_clear()
    assert not load_config().s3_endpoint
    assert "AWS_ENDPOINT_URL" not in (delta_rs_options(s3_config.lake) or {})
    assert (delta_rs_options(s3_config.lake, s3_config) or {})["AWS_ENDPOINT_URL"] == s3_config.s3_endpoint


def test_stream_metrics_rows_once_per_batch_and_the_log_version_on_s3(s3_config: RuntimeConfig) -> None:
    from weir.lake.paths import stream_metrics_path
    from weir.stream.metrics_log import append_metrics_row, log_version

    path = stream_metrics_path(s3_config)
    app = "weir-stream:g:q1"
    assert log_version(path, s3_config) is None and app_version(path, app, s3_config) is None
    assert append_metrics_row(path, app, 0, _metrics_row(0), s3_config)
    assert append_metrics_row(path, app, 0, {**_metrics_row(0), "entities_written": 99}, s3_config)  # a replay
    assert append_metrics_row(path, app, 1, _metrics_row(1), s3_config)
    assert log_version(path, s3_config) == 1
    assert app_version(path, app, s3_config) == 1
    table = open_table(path, s3_config)
    assert table is not None
    rows = sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["batch_id"])
    assert [(r["batch_id"], r["entities_written"]) for r in rows] == [(0, 3), (1, 4)]


def test_run_status_written_and_read_back_on_s3(s3_config: RuntimeConfig) -> None:
    from weir.pipeline.status import read_status, record_step

    assert read_status(s3_config, "g") == {}
    record_step(s3_config, "g", "compute", "2026-03-01", "success", {"events": 7})
    status = read_status(s3_config, "g")
    assert status["compute"]["state"] == "success" and status["compute"]["events"] == 7


def test_feature_table_and_training_set_readers_on_s3(s3_config: RuntimeConfig, tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.paths import features_path, training_lineage_path
    from weir.training.readers import read_feature_table, read_training_set

    feats = features_path(s3_config, "g")
    rows = pa.table({"user_id": ["u1", "u2", "u1"], "ds": [date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 2)],
                     "n_1d": [1, 2, 5]})
    write_deltalake(delta_rs_uri(feats), rows, partition_by=["ds"], storage_options=delta_rs_options(feats, s3_config))
    newest = read_feature_table("g", config=s3_config)
    assert newest[["user_id", "n_1d"]].to_dict("records") == [{"user_id": "u1", "n_1d": 5}]
    first = read_feature_table("g", as_of=date(2026, 3, 1), config=s3_config).sort_values("user_id")
    assert first["n_1d"].tolist() == [1, 2]

    training = f"s3a://{BUCKET}/training/credit_v1"
    write_deltalake(delta_rs_uri(training), pa.table({"user_id": ["u1"], "label": [1]}),
                    storage_options=delta_rs_options(training, s3_config))
    lineage = training_lineage_path(s3_config)
    write_deltalake(delta_rs_uri(lineage), pa.table({"training_set": [training]}),
                    storage_options=delta_rs_options(lineage, s3_config))
    by_name = read_training_set("credit_v1", config=s3_config)
    assert by_name.to_dict("records") == [{"user_id": "u1", "label": 1}]
