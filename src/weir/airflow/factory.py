"""The DAG factory: one DAG per feature spec (``weir__<group>``) plus the streaming supervisor.

``dags/weir_feature_groups.py`` is ``globals().update(build_dags())``. Parsing reads the spec files and nothing
else: no Spark, Kafka or DynamoDB, and no heavy import (operators import them inside ``execute``).

A broken spec must not hide the good ones: :func:`build_dags` builds a DAG for every valid spec and skips the
broken ones, and ``dags/weir_spec_errors.py`` (``raise_spec_errors()``) raises one import error naming every
broken spec file, line, field and fix, which the Airflow UI shows as a DAG import error of that file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weir.airflow.docs import render_doc_md
from weir.airflow.settings import (
    DAG_PREFIX,
    MAINTENANCE_DAG_ID,
    MAINTENANCE_SCHEDULE,
    SUPERVISOR_DAG_ID,
    SUPERVISOR_SCHEDULE,
    DagDefaults,
    group_dag_settings,
)
from weir.spec.errors import SpecError, SpecErrors
from weir.spec.loader import SPEC_SUFFIXES, load_spec
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from airflow.sdk import DAG

INTERVAL_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}


class WeirSpecImportError(SpecErrors):
    """Raised by ``dags/weir_spec_errors.py`` when specs are broken (shown as that file's import error)."""


def _specs_dir(specs_dir: str | Path | None) -> Path:
    if specs_dir is not None:
        return Path(specs_dir)
    from weir.runtime import build_config

    return build_config().specs_dir  # not the cached config: the DAG processor re-reads the environment


def load_groups(specs_dir: str | Path | None = None) -> tuple[list[FeatureGroup], list[SpecError]]:
    """Every valid spec under ``specs_dir`` and the errors of the broken ones (one file never hides another)."""
    root = _specs_dir(specs_dir)
    if not root.is_dir():
        return [], [SpecError("feature specs directory does not exist; set WEIR_SPECS_DIR", file=str(root))]
    groups: dict[str, FeatureGroup] = {}
    errors: list[SpecError] = []
    for path in sorted(p for p in root.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()):
        try:
            group = load_spec(path)
        except SpecErrors as exc:
            errors.extend(exc.errors)
            continue
        except SpecError as exc:
            errors.append(exc)
            continue
        if group.name in groups:
            errors.append(SpecError(f"duplicate feature group name '{group.name}' (also in "
                                    f"{groups[group.name].path}); rename one", file=str(path), line=1, field="name"))
            continue
        groups[group.name] = group
    return sorted(groups.values(), key=lambda g: g.name), errors


def _timetable(schedule: str | None) -> Any:
    """Cron schedules get data intervals: the run of day D starts after D ends and has ``ds`` = D."""
    if schedule is None or schedule in ("@once", "@continuous"):
        return schedule
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(schedule, timezone="UTC")


def build_group_dag(group: FeatureGroup, defaults: DagDefaults | None = None) -> DAG:
    """``weir__<group>``: compute >> validate >> publish >> check_freshness for the day ``ds``."""
    from airflow.sdk import DAG

    from weir.airflow.callbacks import on_task_failure, runbook_link
    from weir.airflow.operators import WeirSparkJobOperator, WeirTaskOperator

    s = group_dag_settings(group, defaults)
    default_args = {
        "on_failure_callback": on_task_failure,
        "owner": s.owner,
        "retries": s.retries,
        "retry_delay": s.retry_delay,
        "retry_exponential_backoff": s.retry_exponential_backoff,
        "max_retry_delay": s.max_retry_delay,
        "depends_on_past": False,
    }
    max_active_runs = 1 if group.schedule == "@continuous" else s.max_active_runs
    with DAG(
        dag_id=s.dag_id,
        schedule=_timetable(s.schedule),
        start_date=_utc(s.start_date),
        catchup=False,
        max_active_runs=max_active_runs,
        dagrun_timeout=s.dagrun_timeout,
        description=s.description,
        doc_md=render_doc_md(group),
        tags=s.tags,
        default_args=default_args,
        params={},
    ) as dag:
        # depends_on_past: day D's compute starts from the tiles and lifetime snapshot of day D-1, so it waits
        # for D-1's compute even when a backfill runs several days at once (Airflow's default: 10 runs)
        compute = WeirSparkJobOperator(task_id="compute", job="compute", group=group.name,
                                       execution_timeout=s.task_timeouts["compute"], depends_on_past=True,
                                       doc_md="Batch run of day `ds` from the Delta source: tiles and feature rows. "
                                              f"Runbook: `{runbook_link('compute')}`.")
        validate = WeirSparkJobOperator(task_id="validate", job="validate", group=group.name,
                                        execution_timeout=s.task_timeouts["validate"],
                                        doc_md="Great Expectations on the feature partition `ds`; "
                                               "fails (no retry) when an expectation fails. "
                                               f"Runbook: `{runbook_link('validate')}`.")
        publish = WeirSparkJobOperator(task_id="publish", job="publish", group=group.name,
                                       execution_timeout=s.task_timeouts["publish"],
                                       doc_md="Publish the tiles as of the end of `ds` to DynamoDB (newest wins). "
                                              f"Runbook: `{runbook_link('publish')}`.")
        freshness = WeirTaskOperator(task_id="check_freshness", function="check_freshness", group=group.name,
                                     execution_timeout=s.task_timeouts["check_freshness"],
                                     doc_md="The online store serves this run or a newer one; age vs the SLO. "
                                            f"Runbook: `{runbook_link('check_freshness')}`.")
        compute >> validate >> publish >> freshness
    return dag


def declares_experiments(specs_dir: str | Path | None = None) -> bool:
    """Whether any flag or experiment is declared beside the specs (``flags/``, ``experiments/``; a file is
    enough: the evaluators, not DAG parsing, report a broken one)."""
    from weir.experiments.catalog import KINDS

    root = _specs_dir(specs_dir).parent
    return any(p.suffix in SPEC_SUFFIXES for kind in KINDS.values() if (root / kind).is_dir()
               for p in (root / kind).iterdir())


def build_supervisor_dag(groups: list[FeatureGroup], defaults: DagDefaults | None = None,
                         exposures: bool = False) -> DAG | None:
    """``weir__streaming_supervisor``: every 5 minutes, ensure each Kafka-sourced group's stream runs, and with
    ``exposures`` (flags or experiments are declared) the exposure stream."""

    from weir.airflow.operators import WeirTaskOperator
    from weir.experiments.exposures import EXPOSURES_TOPIC
    from weir.experiments.tables import EXPOSURE_STREAM

    streaming = [g for g in groups if g.source.kafka is not None]
    if not streaming and not exposures:
        return None
    d = defaults or DagDefaults()
    with _platform_dag(
        SUPERVISOR_DAG_ID, SUPERVISOR_SCHEDULE, d,
        dagrun_timeout=d.task_timeouts["check_freshness"],
        description="Keeps the streaming query of every Kafka-sourced feature group running",
        doc_md="Every 5 minutes, for each feature group with a `kafka:` source, check that its Structured "
               "Streaming query runs (pid file `state_dir/streams/<group>.pid`) and start it if not.\n\n"
               + "\n".join(f"- `{g.name}`: topic `{g.source.kafka.topic}`" for g in streaming if g.source.kafka)
               + (f"\n- exposures: topic `{EXPOSURES_TOPIC}` into the `exposures` table" if exposures else ""),
        tags=["weir", "streaming"],
        default_args={"owner": d.owner, "retries": 0},
    ) as dag:
        for g in streaming:
            WeirTaskOperator(task_id=f"ensure_stream__{g.name}", function="ensure_stream", group=g.name, ds=None,
                             execution_timeout=d.task_timeouts["check_freshness"])
        if exposures:
            WeirTaskOperator(task_id=f"ensure_stream__{EXPOSURE_STREAM}", function="ensure_stream",
                             group=EXPOSURE_STREAM, ds=None, execution_timeout=d.task_timeouts["check_freshness"])
    return dag


def build_maintenance_dag(groups: list[FeatureGroup], defaults: DagDefaults | None = None) -> DAG | None:
    """``weir__maintenance``: weekly compaction and VACUUM of every group's tables, then Weir's own, one at a
    time (each is a Spark job), keeping training sets' pinned versions readable."""

    from weir.airflow.callbacks import on_task_failure, runbook_link
    from weir.airflow.operators import WeirSparkJobOperator
    from weir.pipeline.steps import PLATFORM

    if not groups:
        return None
    d = defaults or DagDefaults()
    with _platform_dag(
        MAINTENANCE_DAG_ID, MAINTENANCE_SCHEDULE, d,
        description="Compacts and vacuums Weir's Delta tables",
        doc_md="Weekly `OPTIMIZE` and `VACUUM` (retention 7 days, stretched to keep every Delta version a "
               f"registered training set pins) of each group's tables, then Weir's own. Runbook: "
               f"`{runbook_link('maintain')}`.",
        tags=["weir", "maintenance"],
        default_args={"owner": d.owner, "retries": 1, "on_failure_callback": on_task_failure},
    ) as dag:
        previous = None
        for name in [*(g.name for g in groups), PLATFORM]:
            task = WeirSparkJobOperator(task_id=f"maintain__{name}", job="maintain", group=name,
                                        execution_timeout=d.task_timeouts["compute"])
            if previous is not None:
                previous >> task
            previous = task
    return dag


def build_dags(specs_dir: str | Path | None = None, defaults: DagDefaults | None = None) -> dict[str, DAG]:
    """{dag_id: DAG} for every valid spec, plus the streaming supervisor. Broken specs are skipped here."""
    groups, _errors = load_groups(specs_dir)
    wanted = parsing_dag_id(DAG_PREFIX)
    dags: dict[str, DAG] = {}
    for group in groups:
        dag_id = f"{DAG_PREFIX}{group.name}"
        if wanted is None or wanted == dag_id:
            dags[dag_id] = build_group_dag(group, defaults)
    if wanted is None or wanted == SUPERVISOR_DAG_ID:
        supervisor = build_supervisor_dag(groups, defaults, exposures=declares_experiments(specs_dir))
        if supervisor is not None:
            dags[SUPERVISOR_DAG_ID] = supervisor
    if wanted is None or wanted == MAINTENANCE_DAG_ID:
        maintenance = build_maintenance_dag(groups, defaults)
        if maintenance is not None:
            dags[MAINTENANCE_DAG_ID] = maintenance
    return dags


def raise_spec_errors(specs_dir: str | Path | None = None) -> None:
    """Raise one error naming every broken spec (file:line: field: problem), or return if all are valid."""
    _groups, errors = load_groups(specs_dir)
    if errors:
        raise WeirSpecImportError(errors)


def parsing_dag_id(prefix: str) -> str | None:
    """The one DAG id (starting with ``prefix``) a worker parses the file for, to run one of its tasks: only that
    DAG is then built (Airflow's parsing context). None: build them all (the scheduler, tests)."""
    try:
        from airflow.sdk import get_parsing_context
    except ImportError:
        return None
    dag_id = get_parsing_context().dag_id
    return dag_id if dag_id and dag_id.startswith(prefix) else None


def _platform_dag(dag_id: str, schedule: str, defaults: DagDefaults, **kwargs: Any) -> DAG:
    """A DAG of Weir's own (not a group's): from the defaults' start date, never catching up, one run at a time."""
    from airflow.sdk import DAG

    return DAG(dag_id=dag_id, schedule=schedule, start_date=_utc(defaults.start_date), catchup=False,
               max_active_runs=1, **kwargs)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


__all__ = ["WeirSpecImportError", "build_dags", "build_group_dag", "build_maintenance_dag", "build_supervisor_dag",
           "load_groups", "raise_spec_errors"]
