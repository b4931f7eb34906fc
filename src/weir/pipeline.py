"""The steps of a feature group's daily pipeline, as plain functions (no Airflow here).

Airflow tasks, the spark-submit entry points in ``jobs/`` and people at a shell all call the same functions:

>>> compute_day("user_spend", "2026-10-31")        # batch run of that day (features as of its end)
>>> validate_day_task("user_spend", "2026-10-31")  # Great Expectations gate; raises ValidationFailed
>>> publish_day("user_spend", "2026-10-31")        # DynamoDB, newest wins
>>> check_freshness("user_spend", "2026-10-31")    # the online store serves this run (or a newer one)

Each step builds (or reuses) the Spark session and the runtime config itself, returns a small JSON-able summary
and raises on failure. Each step also records its last result in ``<state_dir>/status/<group>.json`` (what the
Weir view in the Airflow UI shows next to the DAG run states).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weir.runtime import RuntimeConfig, load_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from weir.online.interface import OnlineStore
    from weir.spec.models import FeatureGroup

#: the line a job prints last, so the Airflow operator can return the summary as the task's XCom
RESULT_PREFIX = "WEIR_RESULT "
#: job exit codes: the operator fails these without retrying (a retry cannot fix them)
EXIT_VALIDATION_FAILED = 3
EXIT_SPEC_ERROR = 2

STEPS = ("compute", "validate", "publish", "freshness", "streaming")

Summary = dict[str, Any]


# ---- status file -----------------------------------------------------------------------------------------

def status_path(config: RuntimeConfig, group_name: str) -> Path:
    return config.state_dir / "status" / f"{group_name}.json"


def read_status(config: RuntimeConfig, group_name: str) -> dict[str, Any]:
    """The last result of every step of ``group_name`` ({step: {ds, state, at, summary | error}}), or {}."""
    try:
        data = json.loads(status_path(config, group_name).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_step(config: RuntimeConfig, group_name: str, step: str, ds: str | None, state: str,
                detail: dict[str, Any]) -> None:
    """Store the last result of ``step`` (locked read-modify-write, atomic replace)."""
    path = status_path(config, group_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_status(config, group_name)
        data[step] = {"ds": ds, "state": state, "at": datetime.now(UTC).isoformat(timespec="seconds"), **detail}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str, sort_keys=True))
        tmp.replace(path)


@contextlib.contextmanager
def _step(config: RuntimeConfig, group_name: str, step: str, ds: str | None) -> Iterator[Summary]:
    """Run a step: record success with the summary the body fills in, or failure with the error."""
    summary: Summary = {}
    began = time.perf_counter()
    try:
        yield summary
    except BaseException as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        record_step(config, group_name, step, ds, "failed",
                    {"error": f"{type(exc).__name__}: {error}"[:500], "summary": summary})
        raise
    summary.setdefault("seconds", round(time.perf_counter() - began, 1))
    record_step(config, group_name, step, ds, "success", {"summary": summary})


# ---- helpers ---------------------------------------------------------------------------------------------

def parse_ds(ds: str | date) -> date:
    if isinstance(ds, date):
        return ds
    try:
        return datetime.strptime(ds, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"'{ds}' is not a date; use YYYY-MM-DD") from None


def _group(config: RuntimeConfig, group_name: str) -> FeatureGroup:
    from weir.spec.loader import find_spec

    return find_spec(group_name, config.specs_dir)


def _spark(config: RuntimeConfig, app: str) -> SparkSession:
    from weir.spark import get_spark

    return get_spark(app, config)


def run_ts_us(day: date) -> int:
    """End of ``day`` (next day 00:00 UTC) in epoch microseconds: the run time of the feature partition."""
    return int(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC).timestamp()) * 1_000_000


# ---- the steps -------------------------------------------------------------------------------------------

def compute_day(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Batch run of day ``ds``: its events into tiles, feature rows as of the end of ``ds``."""
    from weir.batch import run_day

    config = config or load_config()
    day = parse_ds(ds)
    with _step(config, group_name, "compute", day.isoformat()) as out:
        group = _group(config, group_name)
        s = run_day(_spark(config, f"weir-compute-{group_name}"), group, day, config)
        out.update(group=group_name, ds=day.isoformat(), run_id=s.run_id, events=s.events,
                   quarantined=s.quarantined, tiles=s.tiles, feature_rows=s.feature_rows,
                   seconds=round(s.seconds, 1))
    return out


def validate_day_task(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Validate the feature partition ``ds`` with Great Expectations; raise ValidationFailed if it fails."""
    from weir.validate import gate_or_raise, validate_day

    config = config or load_config()
    day = parse_ds(ds)
    with _step(config, group_name, "validate", day.isoformat()) as out:
        outcome = validate_day(_spark(config, f"weir-validate-{group_name}"), _group(config, group_name), day, config)
        out.update(group=group_name, ds=day.isoformat(), success=bool(outcome.success),
                   headline=outcome.headline(), rows=outcome.row_count,
                   expectations=len(outcome.results), failed=[r.describe()[:300] for r in outcome.failed][:10],
                   feature_table_version=outcome.feature_table_version,
                   report_path=str(outcome.report_path) if outcome.report_path else None)
        gate_or_raise(outcome)
    return out


def publish_day(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Publish the group's tiles as of the end of ``ds`` to the online store (newest wins)."""
    from weir.online.publish import publish

    config = config or load_config()
    day = parse_ds(ds)
    with _step(config, group_name, "publish", day.isoformat()) as out:
        s = publish(_spark(config, f"weir-publish-{group_name}"), _group(config, group_name), day, config,
                    progress=False)
        out.update(group=group_name, ds=day.isoformat(), table=s.table, source_version=s.source_version,
                   entities=s.entities, written=s.written, skipped=s.skipped, expired=s.expired,
                   invalid=s.invalid, retried=s.retried, seconds=round(s.seconds, 1))
    return out


def online_sample(config: RuntimeConfig, group_name: str, limit: int = 50, store: OnlineStore | None = None,
                  ) -> list[dict[str, int]]:
    """Up to ``limit`` online items of the group (``newest_event_us``, ``run_us``), or [] if no table."""
    from dataclasses import asdict

    from weir.online.store import DynamoOnlineStore

    return [asdict(s) for s in (store or DynamoOnlineStore(config)).sample_run_times(group_name, limit)]


def check_freshness(group_name: str, ds: str | date, config: RuntimeConfig | None = None,
                    now: datetime | None = None, store: OnlineStore | None = None) -> Summary:
    """Check that the online store serves the run of ``ds`` or a newer one; report data age against the SLO.

    Fails when the group's online table is empty or older than this run (a publish that wrote nothing).
    The age of the newest event against ``online.freshness_slo`` is reported (``stale``), not enforced: between
    daily runs the streaming path keeps values fresh.
    """
    config = config or load_config()
    day = parse_ds(ds)
    with _step(config, group_name, "freshness", day.isoformat()) as out:
        group = _group(config, group_name)
        items = online_sample(config, group_name, store=store)
        run_us = run_ts_us(day)
        now_us = int((now or datetime.now(UTC)).timestamp() * 1_000_000)
        out.update(group=group_name, ds=day.isoformat(), sampled=len(items))
        if not group.online.enabled:
            out.update(skipped="online serving disabled in the spec")
            return out
        if not items:
            from weir.online.schema import table_name

            raise RuntimeError(f"online table {table_name(config, group_name)} is empty or missing "
                               f"after publishing {day}; check the publish task's log")
        newest_run = max(i["run_us"] for i in items)
        newest_event = max(i["newest_event_us"] for i in items)
        slo = group.online.freshness_slo_us
        age_s = (now_us - newest_event) / 1e6
        out.update(newest_run_ts=_iso(newest_run), newest_event_ts=_iso(newest_event), event_age_s=round(age_s),
                   freshness_slo=group.online.freshness_slo,
                   stale=None if slo is None else age_s * 1e6 > slo)
        if newest_run < run_us:
            raise RuntimeError(f"online store of {group_name} is older than the run of {day}: newest item was "
                               f"computed for {_iso(newest_run)}, expected {_iso(run_us)} or later")
    return out


def ensure_stream(group_name: str, config: RuntimeConfig | None = None) -> Summary:
    """Make sure the group's streaming query runs (``weir.stream.supervisor.ensure_running``), if installed."""
    config = config or load_config()
    with _step(config, group_name, "streaming", None) as out:
        try:
            from weir.stream import supervisor  # type: ignore[attr-defined, unused-ignore]
        except ImportError:
            out.update(group=group_name, status="streaming engine not installed")
            return out
        result = supervisor.ensure_running(group_name, config)
        out.update(group=group_name, status=_jsonable(result))  # "running", "started" or "restarted"
    return out


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


# ---- spark-submit entry points ---------------------------------------------------------------------------

def job_main(step: Callable[[str, str], Summary], argv: list[str] | None = None, prog: str | None = None) -> int:
    """``jobs/*.py``: parse ``--group G --ds D``, run ``step``, print its summary as the last line.

    Exit codes: 0 ok, 2 spec error, 3 validation failed (neither is retried by Airflow), 1 anything else.
    """
    from weir.spec.errors import SpecError
    from weir.validate.outcome import ValidationFailed

    parser = argparse.ArgumentParser(prog=prog, description=step.__doc__)
    parser.add_argument("--group", "--spec", dest="group", required=True, help="feature group name or spec file")
    parser.add_argument("--ds", "--date", dest="ds", required=True, help="the day (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    try:
        summary = step(args.group, args.ds)
    except ValidationFailed as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return EXIT_VALIDATION_FAILED
    except SpecError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return EXIT_SPEC_ERROR
    except Exception:
        traceback.print_exc()
        return 1
    print(RESULT_PREFIX + json.dumps(summary, default=str), flush=True)
    return 0


__all__ = [
    "EXIT_SPEC_ERROR",
    "EXIT_VALIDATION_FAILED",
    "RESULT_PREFIX",
    "check_freshness",
    "compute_day",
    "ensure_stream",
    "job_main",
    "publish_day",
    "read_status",
    "record_step",
    "status_path",
    "validate_day_task",
]
