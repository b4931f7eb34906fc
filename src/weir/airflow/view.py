"""The Weir view in the Airflow UI: every feature group with its last DAG run, validation, freshness and stream,
and every experiment's latest analysis (``weir.airflow.experiment_view``).

A small FastAPI app (mounted by the plugin at ``/weir``, shown in the UI's navigation as an external view):
``GET /weir/`` an HTML page, ``GET /weir/api/groups`` and ``/api/experiments`` the same as JSON. Pipeline results
come from the run-status table the pipeline steps append to in the lake (``weir.pipeline.status``), DAG run states from
Airflow's database.

The view is behind Airflow's auth manager, like the rest of the UI: a request needs the JWT that Airflow's login
sets (the ``_token`` cookie the UI's pages carry, or ``Authorization: Bearer``) and read access to DAG runs.
Anonymous requests get 401, and the HTML page redirects them to Airflow's login page (back to the view after).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request  # at module level: FastAPI resolves the routes' (string) annotations here

from weir.airflow.settings import dag_id_for
from weir.runtime import RuntimeConfig, build_config

if TYPE_CHECKING:
    from fastapi import FastAPI

DagRunLookup = Callable[[list[str]], dict[str, dict[str, Any]]]


def last_dag_runs(dag_ids: list[str]) -> dict[str, dict[str, Any]]:
    """{dag_id: {state, logical_date, run_id}} of each DAG's newest run, from Airflow's metadata database."""
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select
    except ImportError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    try:
        with create_session() as session:
            for dag_id in dag_ids:
                run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)
                                      .order_by(DagRun.run_after.desc()).limit(1)).first()
                if run is not None:
                    out[dag_id] = {"state": str(run.state), "run_id": run.run_id,
                                   "logical_date": run.logical_date.isoformat() if run.logical_date else None}
    except Exception as exc:  # the view must render even if the database is unreachable
        return {dag_id: {"state": f"unknown ({type(exc).__name__})"} for dag_id in dag_ids}
    return out


def stream_state(config: RuntimeConfig, group: str) -> str:
    """Whether the group's stream job runs (pid file under ``<state_dir>/streams``) and its last micro-batch."""
    try:
        from weir.stream.supervisor import status
    except ImportError:
        from weir.process import read_pid
        from weir.stream.state_files import pid_file

        pid = read_pid(pid_file(config, group))
        return f"running (pid {pid})" if pid else "not running"
    s = status(group, config)
    text = f"running (pid {s['pid']})" if s.get("running") else "not running"
    last = s.get("last_metrics")
    if isinstance(last, dict):
        shown = {k: v for k, v in last.items() if isinstance(v, int | float | str)}
        text += "; last batch " + ", ".join(f"{k}={v}" for k, v in list(shown.items())[:6])
    return text


def collect_overview(config: RuntimeConfig | None = None, dag_runs: DagRunLookup = last_dag_runs,
                     now: datetime | None = None) -> dict[str, Any]:
    """Everything the view shows, as JSON-able data."""
    from weir.airflow.factory import load_groups
    from weir.pipeline.status import read_status

    config = config or build_config()
    groups, errors = load_groups(config.specs_dir)
    runs = dag_runs([dag_id_for(g.name) for g in groups])
    now = now or datetime.now(UTC)
    rows = []
    for g in groups:
        status = read_status(config, g.name)
        fresh = status.get("check_freshness", {})
        summary = fresh.get("summary") or {}
        age_s = None
        if summary.get("newest_event_ts"):
            age_s = round((now - datetime.fromisoformat(summary["newest_event_ts"])).total_seconds())
        slo = g.online.freshness_slo_us
        rows.append({
            "group": g.name,
            "dag_id": dag_id_for(g.name),
            "owner": g.owner,
            "schedule": g.schedule,
            "last_run": runs.get(dag_id_for(g.name)),
            "compute": status.get("compute"),
            "validation": status.get("validate"),
            "publish": status.get("publish"),
            "freshness": {**fresh, "event_age_s_now": age_s, "freshness_slo": g.online.freshness_slo,
                          "stale_now": None if slo is None or age_s is None else age_s * 1e6 > slo} if fresh else None,
            "streaming": {"kafka_topic": g.source.kafka.topic, "process": stream_state(config, g.name),
                          "supervisor": status.get("ensure_stream")} if g.source.kafka else None,
        })
    return {"generated_at": now.isoformat(timespec="seconds"), "specs_dir": str(config.specs_dir),
            "groups": rows, "spec_errors": [str(e) for e in errors]}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _badge(state: str | None) -> str:
    state = state or "none"
    color = {"success": "#1f8a4c", "failed": "#c0392b", "running": "#2470b3", "queued": "#7a7a7a"}.get(
        state.lower().replace("dagrunstate.", ""), "#98a2b3")
    return f'<span class="b" style="background:{color}">{_e(state)}</span>'


def _step_cell(step: dict[str, Any] | None, extra: str = "") -> str:
    if not step:
        return '<span class="m">never ran</span>'
    text = f"{_badge(step.get('state'))} <span class='m'>ds {_e(step.get('ds'))}, {_e(step.get('at'))}</span>"
    if step.get("error"):
        text += f"<br><code>{_e(step['error'])}</code>"
    return text + extra


def render_html(data: dict[str, Any], extra_html: str = "", reports: str = "report") -> str:
    """The page; ``extra_html`` (the experiments section) goes after the feature groups; ``reports``: the URL
    prefix of the validation reports route (``<reports>/<group>/<ds>``)."""
    rows = []
    for r in data["groups"]:
        run = r["last_run"] or {}
        run_cell = (f"{_badge(run.get('state'))}<br><span class='m'>{_e(run.get('logical_date'))}</span>"
                    if run else '<span class="m">no runs</span>')
        v = r["validation"] or {}
        vs = v.get("summary") or {}
        extra = f"<br>{_e(vs.get('headline'))}" if vs.get("headline") else ""
        if v.get("ds"):  # the report is read from the lake, wherever the validation ran
            extra += f"<br><a href='{_e(reports)}/{_e(r['group'])}/{_e(v['ds'])}'>validation report</a>"
        p = (r["publish"] or {}).get("summary") or {}
        pub_extra = f"<br><span class='m'>{_e(p.get('written'))} written, {_e(p.get('skipped'))} kept newer</span>" \
            if p else ""
        f = r["freshness"] or {}
        fresh_extra = ""
        if f:
            fresh_extra = (f"<br>newest event {_e((f.get('summary') or {}).get('newest_event_ts'))}, age "
                           f"{_e(f.get('event_age_s_now'))} s (SLO {_e(f.get('freshness_slo'))}, "
                           f"stale: {_e(f.get('stale_now'))})")
        s = r["streaming"]
        stream = "no Kafka source" if s is None else (
            f"topic <code>{_e(s['kafka_topic'])}</code>: {_e(s['process'])}"
            + (f"<br><span class='m'>supervisor: {_e((s['supervisor'] or {}).get('summary', {}).get('status'))}"
               f"</span>" if s.get("supervisor") else ""))
        rows.append(
            f"<tr><td><b>{_e(r['group'])}</b><br><span class='m'>{_e(r['owner'])} · {_e(r['schedule'])}</span></td>"
            f"<td><a href='../dags/{_e(r['dag_id'])}' target='_top'>{_e(r['dag_id'])}</a><br>{run_cell}</td>"
            f"<td>{_step_cell(r['compute'])}</td><td>{_step_cell(r['validation'], extra)}</td>"
            f"<td>{_step_cell(r['publish'], pub_extra)}</td><td>{_step_cell(r['freshness'], fresh_extra)}</td>"
            f"<td>{stream}</td></tr>")
    errors = "".join(f"<li><code>{_e(e)}</code></li>" for e in data["spec_errors"])
    errors_html = f"<h2>Broken specs</h2><ul>{errors}</ul>" if errors else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Weir feature groups</title><style>
body{{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5rem;color:#1d2330}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}} th,td{{border:1px solid #d5d9e0;padding:.4rem;
text-align:left;vertical-align:top}} th{{background:#f2f4f7}} .m{{color:#667085;font-size:.8rem}}
.b{{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;color:#fff;font-weight:600;font-size:.8rem}}
code{{font-size:.8rem}} table.x{{width:auto;margin-bottom:1rem}}</style></head><body>
<h1>Weir feature groups</h1><p class="m">specs: {_e(data['specs_dir'])} · generated {_e(data['generated_at'])}
· <a href="api/groups">JSON</a></p>
<table><tr><th>group</th><th>last DAG run</th><th>compute</th><th>validation</th><th>publish</th>
<th>online freshness</th><th>streaming</th></tr>{''.join(rows)}</table>{errors_html}{extra_html}</body></html>"""


def airflow_auth() -> Callable[..., Any]:
    """The FastAPI dependency of Airflow's own API for reading DAG runs: a valid JWT, and the auth manager's
    ``is_authorized_dag(GET, RUN)`` for the user (401 without a token, 403 for an invalid one or no access)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.RUN)


def login_url(next_url: str) -> str:
    """The auth manager's login page, coming back to ``next_url`` after login."""
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=next_url)
    except Exception:  # no auth manager initialised (a bare app in a test): Airflow's default login route
        from urllib.parse import quote

        return f"/auth/login?next={quote(next_url, safe='')}"


def create_app(config_factory: Callable[[], RuntimeConfig] = build_config,
               dag_runs: DagRunLookup = last_dag_runs,
               auth: Callable[..., Any] | None = None) -> FastAPI:
    """The view's app. ``auth``: the dependency every route requires (default: :func:`airflow_auth`)."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse, RedirectResponse, Response

    app = FastAPI(title="Weir", description="Weir feature groups in Airflow",
                  dependencies=[Depends(auth or airflow_auth())])

    @app.exception_handler(HTTPException)
    async def to_login(request: Request, exc: HTTPException) -> Response:
        """An anonymous browser asking for the page goes to Airflow's login; API clients get the 401."""
        path, root = request.url.path, str(request.scope.get("root_path", ""))
        if exc.status_code == 401 and path.removeprefix(root) in ("", "/"):
            return RedirectResponse(login_url(str(request.url)), status_code=303)
        return await http_exception_handler(request, exc)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> str:
        from weir.airflow.experiment_view import collect_experiments, render_experiments_html

        config = config_factory()
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return render_html(collect_overview(config, dag_runs),
                           render_experiments_html(collect_experiments(config, dag_runs)), f"{root}/report")

    @app.get("/report/{group}/{ds}", response_class=HTMLResponse)
    def report(group: str, ds: str) -> str:
        """A day's validation report from the lake (``_weir/validation_runs``), whichever host validated it."""
        from datetime import date

        from weir.validate.report import report_from_lake

        try:
            date.fromisoformat(ds)
        except ValueError:
            raise HTTPException(400, f"ds {ds!r} is not a date: use YYYY-MM-DD") from None
        page = report_from_lake(config_factory(), group, ds)
        if page is None:
            raise HTTPException(404, f"no validation report of {group} on {ds} in the lake: run "
                                     f"`weir validate-data {group} --date {ds}`")
        return page

    @app.get("/api/groups")
    def groups() -> dict[str, Any]:
        return collect_overview(config_factory(), dag_runs)

    @app.get("/api/experiments")
    def experiments() -> dict[str, Any]:
        from weir.airflow.experiment_view import collect_experiments

        return collect_experiments(config_factory(), dag_runs)

    return app
