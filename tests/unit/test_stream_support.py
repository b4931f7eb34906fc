"""Producer encoding and the supervisor's bookkeeping (no services)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from weir.runtime import build_config
from weir.spec import FeatureGroup
from weir.stream import supervisor
from weir.stream.producer import _encode
from weir.stream.state_files import last_metrics_file

GROUP = FeatureGroup.model_validate({
    "name": "g", "entity": {"name": "u", "keys": ["a", "b"]},
    "source": {"kafka": {"topic": "t"}, "event_time": "ts",
               "columns": {"a": "string", "b": "long", "ts": "timestamp"}},
    "features": [{"name": "n", "aggregation": "count", "windows": ["1d"]}],
})


def test_encode_dicts_raw_and_keys() -> None:
    key, value = _encode(GROUP, {"a": "x", "b": 3, "ts": datetime(2024, 1, 2, 3, 4, 5, 6)})
    assert key == b"x|3"
    assert json.loads(value) == {"a": "x", "b": 3, "ts": "2024-01-02T03:04:05.000006Z"}
    assert _encode(GROUP, {"a": "x"})[0] is None  # a key is missing: no message key
    assert _encode(GROUP, b"\xffraw") == (None, b"\xffraw")
    assert _encode(GROUP, "text") == (None, b"text")


def test_supervisor_status_without_a_job(tmp_path: Path) -> None:
    config = build_config(state_dir=tmp_path)
    st = supervisor.status("g", config)
    assert st["running"] is False and st["pid"] is None and st["last_metrics"] is None
    path = last_metrics_file(config, "g")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"batch_id": 4}))
    supervisor.pid_file(config, "g").write_text("999999999")  # stale pid file
    st = supervisor.status("g", config)
    assert st["running"] is False and st["last_metrics"] == {"batch_id": 4}
    assert supervisor.job_command(config, "g", ["--available-now"])[0] == sys.executable
    assert supervisor.job_command(config, "g")[1].endswith("weir/jobs/stream.py")
    assert Path(supervisor.job_command(config, "g")[1]).is_file()


def test_spark_55271_signature() -> None:
    from weir.stream.job import is_kafka_metrics_npe

    msg = ('[STREAM_FAILED] Query terminated with exception: Cannot invoke "scala.collection.IterableOps.map('
           'scala.Function1)" because the return value of "scala.Option.get()" is null SQLSTATE: XXKST')
    assert is_kafka_metrics_npe(RuntimeError(msg))
    assert not is_kafka_metrics_npe(RuntimeError("[STREAM_FAILED] Query terminated: topic deleted"))
