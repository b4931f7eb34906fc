"""The micro-batch's metrics row and the event log's version, through the Delta log and not a Spark job.

A Spark append of one metrics row costs a job and a commit (seconds on a busy 2-core machine: the largest fixed
cost of a micro-batch after the online writes, ``bench/bench_microbatch.py``); asking Spark for the event log's
version costs a ``history`` job. delta-rs does both in milliseconds:

* :func:`append_metrics_row` appends the row to ``_weir/stream_metrics`` with the same idempotency as the Spark
  appends: the commit carries the ``SetTransaction`` (``txnAppId`` = the query's app id, ``txnVersion`` = batch
  id), and a batch id the table already holds for that app id is skipped (a replayed batch; each query id has
  one writer, its driver). Tables written before by Spark carry the same transactions, so old and new agree.
* :func:`log_version` reads the newest version from the log.

Both return None / False when delta-rs cannot handle the table (a protocol feature it lacks); the caller then
uses Spark.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from weir.lake.delta_log import app_version, delta_rs_options, delta_rs_uri, open_table

if TYPE_CHECKING:
    from weir.runtime import RuntimeConfig

COMMIT_ATTEMPTS = 5


def _arrow_schema() -> Any:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("group", pa.string()), ("query_id", pa.string()), ("batch_id", pa.int64()), ("started_at", ts),
        ("finished_at", ts), ("seconds", pa.float64()), ("input_rows", pa.int64()), ("valid_rows", pa.int64()),
        ("dead_lettered", pa.int64()), ("late", pa.int64()), ("rows_per_s", pa.float64()),
        ("entities_written", pa.int64()), ("entities_skipped_replay", pa.int64()), ("write_conflicts", pa.int64()),
        ("newest_event_ts", ts), ("freshness_s", pa.float64()), ("high_water_mark", ts), ("watermark", ts),
        ("events_version", pa.int64()), ("drops", pa.map_(pa.string(), pa.int64()))])


def _utc(v: Any) -> Any:
    return v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v


def append_metrics_row(path: str, app_id: str, batch_id: int, row: dict[str, Any],
                       config: RuntimeConfig | None = None) -> bool:
    """Append ``row`` (the ``BatchMetrics`` fields) once per (``app_id``, ``batch_id``); False when delta-rs
    cannot write this table (the caller appends with Spark instead). ``config``: whose lake (its S3 endpoint,
    region, addressing); default the process's."""
    import pyarrow as pa
    from deltalake import CommitProperties, Transaction, write_deltalake
    from deltalake.exceptions import DeltaError, DeltaProtocolError, TableNotFoundError

    uri = delta_rs_uri(path)
    storage_options = delta_rs_options(path, config)
    schema = _arrow_schema()
    data = {k: _utc(v) for k, v in row.items()}
    data["drops"] = list(data["drops"].items())
    table = pa.Table.from_pylist([data], schema=schema)
    commit = CommitProperties(app_transactions=[Transaction(app_id, batch_id)])
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            done = app_version(path, app_id, config)
            if done is not None and done >= batch_id:
                return True  # a replayed batch: its row is there
            write_deltalake(uri, table, mode="append", schema_mode="merge", commit_properties=commit,
                            storage_options=storage_options)
            return True
        except (DeltaProtocolError, TableNotFoundError):
            return False
        except DeltaError:
            # a concurrent first write (two groups creating the table): the loser tries again
            if attempt == COMMIT_ATTEMPTS - 1:
                return False
            time.sleep(0.2 * (attempt + 1))
    return False


def log_version(path: str, config: RuntimeConfig | None = None) -> int | None:
    """The newest version of the Delta table at ``path`` from its log; None when delta-rs cannot tell."""
    from deltalake.exceptions import DeltaError, DeltaProtocolError

    try:
        table = open_table(path, config, without_files=True)
    except (DeltaProtocolError, DeltaError):
        return None
    return None if table is None else int(table.version())
