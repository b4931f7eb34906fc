"""DAG settings of a feature group: the house defaults, overridden by what the spec declares (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from weir.spec.models import FeatureGroup

DAG_PREFIX = "weir__"
SUPERVISOR_DAG_ID = "weir__streaming_supervisor"
SUPERVISOR_SCHEDULE = "*/5 * * * *"
MAINTENANCE_DAG_ID = "weir__maintenance"
MAINTENANCE_SCHEDULE = "0 3 * * 0"  # Sundays 03:00 UTC, off the daily runs' hours
TASK_IDS = ("compute", "validate", "publish", "check_freshness")


@dataclass(frozen=True)
class DagDefaults:
    """What every feature-group DAG gets unless its spec says otherwise."""

    start_date: datetime = datetime(2024, 1, 1)  # UTC; catchup is off, backfills reach any earlier day
    retries: int = 2
    retry_delay: timedelta = timedelta(minutes=2)
    retry_exponential_backoff: float = 2.0  # 2 min, 4 min, 8 min, ... capped by max_retry_delay
    max_retry_delay: timedelta = timedelta(hours=1)
    # one run at a time: a day's lifetime features start from the previous day's snapshot
    max_active_runs: int = 1
    dagrun_timeout: timedelta = timedelta(hours=6)
    task_timeouts: dict[str, timedelta] = field(default_factory=lambda: {
        "compute": timedelta(hours=2),
        "validate": timedelta(minutes=45),
        "publish": timedelta(hours=1),
        "check_freshness": timedelta(minutes=10),
    })
    owner: str = "weir"
    tags: tuple[str, ...] = ("weir", "feature-group")


@dataclass(frozen=True)
class GroupDagSettings:
    dag_id: str
    schedule: str | None
    owner: str
    tags: list[str]
    description: str
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: float
    max_retry_delay: timedelta
    max_active_runs: int
    dagrun_timeout: timedelta
    task_timeouts: dict[str, timedelta]
    start_date: datetime


def dag_id_for(group_name: str) -> str:
    return f"{DAG_PREFIX}{group_name}"


def _seconds(value: Any) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    from weir.spec.durations import parse_duration_us

    return timedelta(microseconds=parse_duration_us(value))


def group_dag_settings(group: FeatureGroup, defaults: DagDefaults | None = None) -> GroupDagSettings:
    """The DAG settings of ``group``: the spec's schedule, owner, tags and retries over ``defaults``.

    An optional ``airflow:`` mapping on the spec (``max_active_runs``, ``dagrun_timeout``, ``retry_delay``,
    ``max_retry_delay``, ``timeouts: {compute: 2h, ...}``) overrides the defaults when the spec model has one.
    """
    d = defaults or DagDefaults()
    extra: Any = getattr(group, "airflow", None) or {}
    if not isinstance(extra, dict):
        extra = extra.model_dump() if hasattr(extra, "model_dump") else dict(extra)
    timeouts = dict(d.task_timeouts)
    for task, value in (extra.get("timeouts") or {}).items():
        parsed = _seconds(value)
        if parsed is not None:
            timeouts[task] = parsed
    description = (group.description or f"feature group {group.name}").strip().splitlines()[0]
    return GroupDagSettings(
        dag_id=dag_id_for(group.name),
        schedule=group.schedule,
        owner=group.owner or d.owner,
        tags=list(dict.fromkeys([*d.tags, *group.tags])),
        description=description[:200],
        retries=group.retries,
        retry_delay=_seconds(extra.get("retry_delay")) or d.retry_delay,
        retry_exponential_backoff=d.retry_exponential_backoff,
        max_retry_delay=_seconds(extra.get("max_retry_delay")) or d.max_retry_delay,
        max_active_runs=int(extra.get("max_active_runs") or d.max_active_runs),
        dagrun_timeout=_seconds(extra.get("dagrun_timeout")) or d.dagrun_timeout,
        task_timeouts=timeouts,
        start_date=d.start_date,
    )
