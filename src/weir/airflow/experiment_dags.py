"""One daily analysis DAG per declared experiment (``weir_experiment__<name>``), built from ``experiments/*.yaml``
like the feature-group DAGs are built from the specs.

Parsing reads the declaration and spec files only (no Spark). A broken declaration is skipped here and reported
by ``dags/weir_experiment_errors.py`` (one import error naming every file, line and fix); it hides no other.
The DAG runs from the experiment's ``start`` until its longest metric window after ``end`` has passed, so the
entities exposed last get their full outcome window; each run analyses everything up to the end of its day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from weir.airflow.settings import DagDefaults
from weir.experiments.models import Experiment
from weir.spec.durations import parse_duration_us
from weir.spec.errors import SpecError, SpecErrors

if TYPE_CHECKING:
    from airflow.sdk import DAG

EXPERIMENT_DAG_PREFIX = "weir_experiment__"
ANALYSIS_SCHEDULE = "@daily"
ANALYSIS_TIMEOUT = timedelta(hours=2)
ANALYSIS_RETRIES = 2


class WeirExperimentImportError(SpecErrors):
    """Raised by ``dags/weir_experiment_errors.py`` when experiment declarations are broken."""


def experiment_dag_id(name: str) -> str:
    return f"{EXPERIMENT_DAG_PREFIX}{name}"


def load_experiments(specs_dir: str | Path | None = None) -> tuple[list[Experiment], list[SpecError]]:
    """Every valid experiment beside ``specs_dir`` (``<specs_dir>/../experiments``) and the errors of the broken
    ones; checked against the valid feature specs (a broken spec is reported by the feature-group DAG files)."""
    from weir.airflow.factory import _specs_dir, load_groups
    from weir.experiments.loader import _collect

    root = _specs_dir(specs_dir)
    folder = root.parent / "experiments"
    if not folder.is_dir():
        return [], []
    groups, _spec_errors = load_groups(root)
    decls, errors = _collect(folder, "experiment", groups)
    return [d for d in decls if isinstance(d, Experiment)], errors


def analysis_end(experiment: Experiment) -> datetime | None:
    """The last day worth analysing: ``end`` plus the longest metric window (None: no end declared)."""
    if experiment.end is None:
        return None
    longest = max(parse_duration_us(m.window) for m in experiment.metrics)
    return experiment.end + timedelta(microseconds=longest)


def _doc_md(e: Experiment) -> str:
    variants = ", ".join(f"`{v.name}` ({v.weight:g})" for v in e.variants)
    metrics = "\n".join(f"- `{m.name}`: {m.aggregation}({m.column or '*'}) of `{m.source}` over {m.window} after "
                        "first exposure" for m in e.metrics)
    covariates = ", ".join(f"`{c}`" for c in e.covariates) or "none (no CUPED)"
    return (f"### Experiment `{e.name}`\n\n{e.description}\n\nDeclared in `{e.path}`. Variants: {variants}; control "
            f"`{e.default.name}`. From {e.start or 'any time'} to {e.end or 'open end'}.\n\nMetrics:\n{metrics}\n\n"
            f"Covariates (as of each entity's first exposure, for CUPED): {covariates}.\n\nEach run analyses the "
            "exposures up to the end of its day `ds` and replaces that day's rows in the lake's "
            "`experiment_results` table (see docs/experiments.md, Analysis).")


def build_experiment_dag(experiment: Experiment, defaults: DagDefaults | None = None) -> DAG:
    """``weir_experiment__<name>``: one ``analyse_experiment`` task (a spark-submit job, named after it) per day."""
    from airflow.sdk import DAG

    from weir.airflow.callbacks import on_task_failure
    from weir.airflow.factory import _timetable
    from weir.airflow.operators import WeirSparkJobOperator

    d = defaults or DagDefaults()
    start = experiment.start or d.start_date.replace(tzinfo=UTC)
    with DAG(
        dag_id=experiment_dag_id(experiment.name),
        schedule=_timetable(ANALYSIS_SCHEDULE),
        start_date=start,
        end_date=analysis_end(experiment),
        catchup=False,  # each run analyses everything up to its day: the newest run is the one that matters
        max_active_runs=1,
        dagrun_timeout=ANALYSIS_TIMEOUT * (ANALYSIS_RETRIES + 1),
        description=f"Daily analysis of experiment {experiment.name}",
        doc_md=_doc_md(experiment),
        tags=["weir", "experiment"],
        default_args={"owner": experiment.owner or d.owner, "retries": ANALYSIS_RETRIES,
                      "retry_delay": d.retry_delay, "on_failure_callback": on_task_failure},
    ) as dag:
        WeirSparkJobOperator(task_id="analyse_experiment", job="analyse_experiment", group=experiment.name,
                             execution_timeout=ANALYSIS_TIMEOUT,
                             doc_md="First exposures up to the end of `ds`, outcomes after them, covariates as of "
                                    "them, Welch + CUPED + SRM; replaces the day's rows in `experiment_results`.")
    return dag


def build_experiment_dags(specs_dir: str | Path | None = None,
                          defaults: DagDefaults | None = None) -> dict[str, DAG]:
    """{dag_id: DAG} for every valid experiment declaration (broken ones are skipped here)."""
    experiments, _errors = load_experiments(specs_dir)
    from weir.airflow.factory import parsing_dag_id

    wanted = parsing_dag_id(EXPERIMENT_DAG_PREFIX)
    return {experiment_dag_id(e.name): build_experiment_dag(e, defaults) for e in experiments
            if wanted is None or wanted == experiment_dag_id(e.name)}


def raise_experiment_errors(specs_dir: str | Path | None = None) -> None:
    """Raise one error naming every broken experiment declaration, or return if all are valid."""
    _experiments, errors = load_experiments(specs_dir)
    if errors:
        raise WeirExperimentImportError(errors)


__all__ = ["EXPERIMENT_DAG_PREFIX", "build_experiment_dag", "build_experiment_dags", "experiment_dag_id",
           "load_experiments", "raise_experiment_errors"]
