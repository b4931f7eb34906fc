"""The steps of a feature group's daily pipeline, as plain functions (no Airflow here).

One verb per step: the function, the Airflow task id, the spark-submit job (``weir/jobs/<step>.py``) and the status
row share its name. Airflow tasks, the jobs and people at a shell all call the same functions:

>>> compute("user_spend", "2026-10-31")          # batch run of that day (features as of its end)
>>> validate("user_spend", "2026-10-31")         # Great Expectations gate; raises ValidationFailed
>>> publish("user_spend", "2026-10-31")          # DynamoDB, newest wins
>>> check_freshness("user_spend", "2026-10-31")  # the online store serves this run (or a newer one)
>>> ensure_stream("user_spend")                  # the group's streaming query runs

Each step builds (or reuses) the Spark session and the runtime config itself, returns a small JSON-able summary
and raises on failure. Each step also records its result in the lake's run-status table
(:mod:`weir.pipeline.status`), which the Weir view in the Airflow UI shows next to the DAG run states.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from weir.compute.layout import parse_ds, run_time_us
from weir.pipeline.status import Summary, step_run
from weir.runtime import RuntimeConfig, load_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from weir.online.interface import OnlineStore
    from weir.spec.models import FeatureGroup

STEPS = ("compute", "validate", "publish", "check_freshness", "ensure_stream", "maintain")


# ---- helpers ---------------------------------------------------------------------------------------------

def _group(config: RuntimeConfig, group_name: str) -> FeatureGroup:
    from weir.spec.loader import find_spec

    return find_spec(group_name, config.specs_dir)


def _spark(config: RuntimeConfig, app: str) -> SparkSession:
    from weir.spark import get_spark

    return get_spark(app, config)




# ---- the steps -------------------------------------------------------------------------------------------

def compute(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Batch run of day ``ds``: its events into tiles, feature rows as of the end of ``ds``."""
    from weir.batch import run_day

    config = config or load_config()
    day = parse_ds(ds)
    with step_run(config, group_name, "compute", day.isoformat()) as out:
        group = _group(config, group_name)
        s = run_day(_spark(config, f"weir-compute-{group_name}"), group, day, config)
        out.update(group=group_name, ds=day.isoformat(), run_id=s.run_id, events=s.events,
                   quarantined=s.quarantined, tiles=s.tiles, feature_rows=s.feature_rows,
                   seconds=round(s.seconds, 1))
    return out


def validate(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Validate the feature partition ``ds`` with Great Expectations; raise ValidationFailed if it fails."""
    from weir.validate import gate_or_raise, validate_day

    config = config or load_config()
    day = parse_ds(ds)
    with step_run(config, group_name, "validate", day.isoformat()) as out:
        outcome = validate_day(_spark(config, f"weir-validate-{group_name}"), _group(config, group_name), day, config)
        out.update(group=group_name, ds=day.isoformat(), success=bool(outcome.success),
                   headline=outcome.headline(), rows=outcome.row_count,
                   expectations=len(outcome.results), failed=[r.describe()[:300] for r in outcome.failed][:10],
                   feature_table_version=outcome.feature_table_version,
                   report_path=str(outcome.report_path) if outcome.report_path else None)
        gate_or_raise(outcome)
    return out


def publish(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Publish the group's tiles as of the end of ``ds`` to the online store (newest wins)."""
    from weir.online.publish import publish as publish_tiles

    config = config or load_config()
    day = parse_ds(ds)
    with step_run(config, group_name, "publish", day.isoformat()) as out:
        s = publish_tiles(_spark(config, f"weir-publish-{group_name}"), _group(config, group_name), day, config,
                          progress=False)
        out.update(group=group_name, ds=day.isoformat(), table=s.table, source_version=s.source_version,
                   entities=s.entities, written=s.written, skipped=s.skipped, expired=s.expired,
                   invalid=s.invalid, too_large=len(s.too_large), retried=s.retried,
                   seconds=round(s.seconds, 1))
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
    with step_run(config, group_name, "check_freshness", day.isoformat()) as out:
        group = _group(config, group_name)
        items = online_sample(config, group_name, store=store)
        run_us = run_time_us(day)
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
    """Make sure the group's streaming query runs (``weir.stream.supervisor.ensure_running``), if installed;
    ``_exposures`` (``weir.experiments.tables.EXPOSURE_STREAM``) names the exposure stream."""
    from weir.experiments.tables import EXPOSURE_STREAM

    config = config or load_config()
    with step_run(config, group_name, "ensure_stream", None) as out:
        try:
            from weir.stream import supervisor  # type: ignore[attr-defined, unused-ignore]
        except ImportError:
            out.update(group=group_name, status="streaming engine not installed")
            return out
        if group_name == EXPOSURE_STREAM:
            result = supervisor.ensure_exposures_running(config)
        else:
            result = supervisor.ensure_running(group_name, config)
        out.update(group=group_name, status=_jsonable(result))  # "running", "started" or "restarted"
    return out


PLATFORM = "_platform"
"""The ``group`` argument of :func:`maintain` that means Weir's own tables (``_weir/*``), not a feature group."""


def maintain(group_name: str, ds: str | date, config: RuntimeConfig | None = None) -> Summary:
    """Compact and vacuum the group's tables (or, for ``_platform``, Weir's own), keeping training sets' pinned
    versions readable (``weir.lake.maintenance``); ``ds`` only names the run."""
    from weir.lake.maintenance import DEFAULT_RETENTION_HOURS
    from weir.lake.maintenance import maintain as maintain_tables

    config = config or load_config()
    day = parse_ds(ds)
    with step_run(config, group_name, "maintain", day.isoformat()) as out:
        spark = _spark(config, f"weir-maintain-{group_name}")
        platform = group_name == PLATFORM
        groups = [] if platform else [_group(config, group_name)]
        reports = maintain_tables(spark, config, groups, DEFAULT_RETENTION_HOURS, platform=platform)
        out.update(group=group_name, tables=len(reports), files_before=sum(r.files_before for r in reports),
                   files_after=sum(r.files_after for r in reports), vacuumed=sum(r.vacuumed for r in reports))
    return out


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


__all__ = [
    "PLATFORM",
    "STEPS",
    "check_freshness",
    "compute",
    "ensure_stream",
    "maintain",
    "online_sample",
    "parse_ds",
    "publish",
    "validate",
]
