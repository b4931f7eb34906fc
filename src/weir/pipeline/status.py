"""The run-status store: every pipeline step's result, a Delta table in the lake (``lake.paths.RUN_STATUS_TABLE``).

Airflow runs tasks on any worker and shows the Weir view from its API server; a file on one machine's disk
would be seen by neither. The lake is what they all share, so each step attempt appends one row there, and a
reader takes the newest row of each step. Written and read with delta-rs (no Spark): the freshness check and
the view run in processes that must not start a JVM. Appends never conflict with each other, so concurrent
steps of several groups or workers need no lock (on object storage delta-rs needs its commit coordination,
as every Delta writer does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from weir.lake.delta_log import delta_rs_options, delta_rs_uri, open_table
from weir.lake.paths import run_status_path
from weir.runtime import RuntimeConfig

Summary = dict[str, Any]

#: the table's columns (``detail`` is the step's JSON: ``summary`` and, for a failure, ``error``)
COLUMNS = ("group", "step", "ds", "state", "recorded_at", "detail")
COMMIT_ATTEMPTS = 5

log = logging.getLogger(__name__)


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("group", pa.string()), ("step", pa.string()), ("ds", pa.string()), ("state", pa.string()),
                      ("recorded_at", pa.timestamp("us", tz="UTC")), ("detail", pa.string())])


def record_step(config: RuntimeConfig, group_name: str, step: str, ds: str | None, state: str,
                detail: dict[str, Any], at: datetime | None = None) -> None:
    """Append the result of ``step`` (``state`` "success" or "failed"; ``detail``: ``summary``, ``error``)."""
    import pyarrow as pa
    from deltalake import write_deltalake
    from deltalake.exceptions import DeltaError

    row = {"group": group_name, "step": step, "ds": ds, "state": state, "recorded_at": at or datetime.now(UTC),
           "detail": json.dumps(detail, default=str, sort_keys=True)}
    table = pa.Table.from_pylist([row], schema=_schema())
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            write_deltalake(delta_rs_uri(run_status_path(config)), table, mode="append", partition_by=["group"],
                            storage_options=delta_rs_options(run_status_path(config), config))
            return
        except DeltaError:
            # two first writers racing to create the table (both write version 0): the loser appends again
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def read_status(config: RuntimeConfig, group_name: str) -> dict[str, Any]:
    """The last result of every step of ``group_name`` ({step: {ds, state, at, summary | error}}), or {}."""
    table = open_table(run_status_path(config), config)
    if table is None:
        return {}
    rows = table.to_pyarrow_table(partitions=[("group", "=", group_name)]).to_pylist()
    out: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: r["recorded_at"]):
        at = row["recorded_at"].astimezone(UTC).isoformat(timespec="seconds")
        out[row["step"]] = {"ds": row["ds"], "state": row["state"], "at": at, **json.loads(row["detail"])}
    return out


@contextlib.contextmanager
def step_run(config: RuntimeConfig, group_name: str, step: str, ds: str | None) -> Iterator[Summary]:
    """Run a step: record success with the summary the body fills in, or failure with the error (re-raised)."""
    summary: Summary = {}
    began = time.perf_counter()
    try:
        yield summary
    except BaseException as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        record_step(config, group_name, step, ds, "failed",
                    {"error": f"{type(exc).__name__}: {error}"[:500], "summary": summary})
        _export_metrics(config, group_name, step, summary, False, time.perf_counter() - began)
        raise
    summary.setdefault("seconds", round(time.perf_counter() - began, 1))
    record_step(config, group_name, step, ds, "success", {"summary": summary})
    _export_metrics(config, group_name, step, summary, True, time.perf_counter() - began)


def _export_metrics(config: RuntimeConfig, group_name: str, step: str, summary: Summary, success: bool,
                    seconds: float) -> None:
    """The step's outcome and numeric figures for Prometheus (``weir.metrics``); never fails the step."""
    from weir.metrics import export_job_metrics, textfile_dir

    values = {k: float(v) for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    values["seconds"] = seconds
    try:
        export_job_metrics(step, group_name, values, success, time.time(), textfile_dir(config),
                           config.pushgateway_url or None)
    except Exception as exc:  # metrics are for on call; a full disk or a down gateway must not fail the run
        log.warning("could not export metrics of %s %s: %s", group_name, step, exc)


__all__ = ["Summary", "read_status", "record_step", "step_run"]
