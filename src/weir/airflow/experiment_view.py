"""The experiments part of the Weir view: each declared experiment's latest analysis from the lake's
``experiment_results`` table, a table per metric (variants, n, delta, CI, p, the CUPED delta and CI beside the
plain ones) under the sample-ratio check.

Read with delta-rs (no Spark): the view runs in Airflow's API server, which must not start a JVM.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from weir.runtime import RuntimeConfig

DagRunLookup = Callable[[list[str]], dict[str, dict[str, Any]]]
#: the columns the view shows per variant
SHOWN = ("variant", "is_control", "exposed", "n", "mean", "delta", "relative", "ci_low", "ci_high", "p_value",
         "cuped_delta", "cuped_ci_low", "cuped_ci_high", "cuped_p_value", "variance_reduction")


def latest_results(config: RuntimeConfig) -> dict[str, list[dict[str, Any]]]:
    """{experiment: the rows of its newest analysed day}; empty when no analysis has run yet."""
    import pyarrow.compute as pc

    from weir.lake.delta_log import open_table
    from weir.lake.paths import experiment_results_path

    table = open_table(experiment_results_path(config), config)
    if table is None:
        return {}
    data = table.to_pyarrow_table()
    out: dict[str, list[dict[str, Any]]] = {}
    for name in pc.unique(data.column("experiment")).to_pylist():
        rows = data.filter(pc.equal(data.column("experiment"), name))
        newest = pc.max(rows.column("ds")).as_py()
        out[name] = rows.filter(pc.equal(rows.column("ds"), newest)).to_pylist()
    return out


def collect_experiments(config: RuntimeConfig, dag_runs: DagRunLookup) -> dict[str, Any]:
    """Every declared experiment with its newest analysis (JSON-able), and the broken declarations."""
    from weir.airflow.experiment_dags import experiment_dag_id, load_experiments

    experiments, errors = load_experiments(config.specs_dir)
    problems = [str(err) for err in errors]
    try:
        results = latest_results(config)
    except Exception as exc:  # the page must render even if the results table cannot be read
        results = {}
        problems.append(f"{config.table_path('experiment_results')}: unreadable ({type(exc).__name__}: {exc})")
    runs = dag_runs([experiment_dag_id(e.name) for e in experiments])
    out = []
    for e in experiments:
        rows = sorted(results.get(e.name, []), key=lambda r: (r["metric"], not r["is_control"], r["variant"]))
        first = rows[0] if rows else {}
        out.append({
            "experiment": e.name, "dag_id": experiment_dag_id(e.name), "owner": e.owner,
            "start": e.start.isoformat() if e.start else None, "end": e.end.isoformat() if e.end else None,
            "last_run": runs.get(experiment_dag_id(e.name)),
            "ds": str(first["ds"]) if first else None,
            "analysed_at": first["analysed_at"].isoformat(timespec="seconds") if first else None,
            "covariates": e.covariates,
            "srm": {"p_value": first.get("srm_p_value"), "mismatch": first.get("srm_mismatch")} if first else None,
            "metrics": [{"metric": m.name, "aggregation": m.aggregation, "window": m.window,
                         "rows": [{k: r[k] for k in SHOWN} for r in rows if r["metric"] == m.name]}
                        for m in e.metrics],
        })
    return {"experiments": out, "experiment_errors": problems}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, fmt: str = ".4g") -> str:
    return "–" if value is None else format(value, fmt)


def _ci(low: Any, high: Any) -> str:
    return "–" if low is None or high is None else f"[{low:.4g}, {high:.4g}]"


def _metric_table(metric: dict[str, Any]) -> str:
    if not metric["rows"]:
        return f"<p class='m'>{_e(metric['metric'])}: no values yet</p>"
    body = []
    for r in metric["rows"]:
        rel = f" ({r['relative']:+.1%})" if r["relative"] is not None else ""
        sig = r["p_value"] is not None and r["cuped_p_value"] is not None
        body.append(
            f"<tr><td>{_e(r['variant'])}{' (control)' if r['is_control'] else ''}</td><td>{_e(r['exposed'])}</td>"
            f"<td>{_e(r['n'])}</td><td>{_num(r['mean'])}</td><td>{_num(r['delta'], '+.4g')}{_e(rel)}</td>"
            f"<td>{_ci(r['ci_low'], r['ci_high'])}</td><td>{_num(r['p_value'], '.3g')}</td>"
            f"<td>{_num(r['cuped_delta'], '+.4g')}</td><td>{_ci(r['cuped_ci_low'], r['cuped_ci_high'])}</td>"
            f"<td>{_num(r['cuped_p_value'], '.3g')}</td>"
            f"<td>{_num(r['variance_reduction'], '.1%') if sig else '–'}</td></tr>")
    return (f"<h3>{_e(metric['metric'])} <span class='m'>{_e(metric['aggregation'])} over "
            f"{_e(metric['window'])} after first exposure</span></h3><table class='x'><tr><th>variant</th>"
            "<th>exposed</th><th>n</th><th>mean</th><th>delta</th><th>95% CI</th><th>p</th><th>CUPED delta</th>"
            "<th>CUPED 95% CI</th><th>CUPED p</th><th>variance reduction</th></tr>" + "".join(body) + "</table>")


def render_experiments_html(data: dict[str, Any]) -> str:
    """The experiments section of the view's page."""
    parts = ["<h1>Weir experiments</h1>"]
    if not data["experiments"]:
        parts.append("<p class='m'>no experiments declared</p>")
    for x in data["experiments"]:
        srm = x["srm"]
        if srm is None:
            srm_html = "<span class='m'>no analysis yet</span>"
        elif srm["mismatch"]:
            srm_html = (f"<span class='b' style='background:#c0392b'>SRM mismatch</span> p = "
                        f"{_num(srm['p_value'], '.2g')}: the split is not the declared one; do not trust these results")
        else:
            srm_html = f"<span class='b' style='background:#1f8a4c'>SRM ok</span> p = {_num(srm['p_value'], '.2g')}"
        run = x["last_run"] or {}
        parts.append(
            f"<h2 id='exp-{_e(x['experiment'])}'>{_e(x['experiment'])}</h2><p class='m'>{_e(x['owner'])} · "
            f"{_e(x['start'])} to {_e(x['end'])} · <a href='../dags/{_e(x['dag_id'])}' target='_top'>"
            f"{_e(x['dag_id'])}</a> {_e(run.get('state'))} · analysed day {_e(x['ds'])} at {_e(x['analysed_at'])}"
            f" · covariates: {_e(', '.join(x['covariates']) or 'none')}</p><p>{srm_html}</p>"
            + "".join(_metric_table(m) for m in x["metrics"]))
    errors = "".join(f"<li><code>{_e(err)}</code></li>" for err in data["experiment_errors"])
    if errors:
        parts.append(f"<h2>Experiment problems</h2><ul>{errors}</ul>")
    return "<section id='experiments'>" + "".join(parts) + "</section>"
