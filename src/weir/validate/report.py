"""A self-contained HTML report of one validation run (no CDN, no scripts: opens from disk anywhere), written to
the validating host's disk and kept in the lake's ``_weir/validation_runs`` row, from which any host reads it
(:func:`report_from_lake`, with delta-rs: the Weir view runs in Airflow's API server, which starts no JVM)."""

from __future__ import annotations

import html
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weir.runtime import RuntimeConfig
from weir.validate.outcome import ExpectationResult, ValidationOutcome

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem}
.badge{display:inline-block;padding:.2rem .7rem;border-radius:.3rem;color:#fff;font-weight:600}
.pass{background:#1f8a4c} .fail{background:#c0392b}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d5d9e0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f4f7} tr.failed td{background:#fdecea} code{font-size:.85rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem} dt{font-weight:600}
.muted{color:#667085}
"""


def report_dir(config: RuntimeConfig, group: str, ds: str) -> Path:
    return config.state_dir / "reports" / group / ds


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, default=str))


def _rows_table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _result_row(r: ExpectationResult) -> str:
    status = '<span class="badge pass">pass</span>' if r.success else '<span class="badge fail">FAIL</span>'
    kwargs = ", ".join(f"{k}={v!r}" for k, v in r.kwargs.items())
    cls = "" if r.success else ' class="failed"'
    return (f"<tr{cls}><td>{status}</td><td><code>{_e(r.expectation)}</code><br>"
            f"<span class='muted'><code>{_e(kwargs)}</code></span></td><td>{_e(r.origin)}</td>"
            f"<td>{_e(r.observed)}</td></tr>")


def render_html(outcome: ValidationOutcome) -> str:
    verdict = ('<span class="badge pass">PASSED</span>' if outcome.success
               else '<span class="badge fail">FAILED</span>')
    facts = {
        "feature group": outcome.group,
        "ds": outcome.ds.isoformat(),
        "run_ts": outcome.run_ts.isoformat(),
        "suite": outcome.suite,
        "spec file": outcome.spec_file or "",
        "rows": outcome.row_count,
        "previous run rows": "none" if outcome.previous_row_count is None else outcome.previous_row_count,
        "feature table Delta version": ("not given" if outcome.feature_table_version is None
                                        else outcome.feature_table_version),
        "validated at": outcome.validated_at.isoformat() if outcome.validated_at else "",
        "statistics": json.dumps(outcome.statistics, default=str),
    }
    if outcome.gx_data_docs_path is not None:
        facts["GX Data Docs"] = str(outcome.gx_data_docs_path)
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(str(v))}</dd>" for k, v in facts.items())
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(outcome.group)} {outcome.ds.isoformat()}: validation "
        f"{'passed' if outcome.success else 'FAILED'}</title><style>{CSS}</style></head><body>",
        f"<h1>Weir validation: {_e(outcome.group)} / {outcome.ds.isoformat()} {verdict}</h1>",
        f"<p>{_e(outcome.headline())}</p><dl>{dl}</dl>",
    ]
    if outcome.failed:
        parts.append("<h2>Failed expectations</h2>")
        for r in outcome.failed:
            parts.append(f"<h3><code>{_e(r.label())}</code></h3><p>{_e(r.origin)}: observed {_e(r.observed)}</p>")
            if r.exception:
                parts.append(f"<pre>{_e(r.exception)}</pre>")
            if r.offending_rows:
                total = "" if r.unexpected_count is None else f" of {r.unexpected_count} unexpected"
                parts.append(f"<p>Offending rows ({len(r.offending_rows)} shown{total}):</p>")
                parts.append(_rows_table(r.offending_rows))
            elif r.unexpected_sample:
                parts.append(f"<p>Unexpected values (sample): <code>{_e(r.unexpected_sample)}</code></p>")
    parts.append("<h2>All expectations</h2><table><tr><th>status</th><th>expectation</th><th>why</th>"
                 "<th>observed</th></tr>")
    parts += [_result_row(r) for r in outcome.results]
    parts.append("</table></body></html>\n")
    return "".join(parts)


def write_report(outcome: ValidationOutcome, config: RuntimeConfig) -> tuple[Path, Path]:
    """Write this run's report; returns (``<ds>/index.html`` = latest run of the day, immutable per-run copy)."""
    directory = report_dir(config, outcome.group, outcome.ds.isoformat())
    runs = directory / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = (outcome.validated_at.strftime("%Y%m%dT%H%M%S%fZ") if outcome.validated_at else "run")
    run_path = runs / f"{stamp}.html"
    run_path.write_text(render_html(outcome), encoding="utf-8")
    index = directory / "index.html"
    shutil.copyfile(run_path, index)
    return index, run_path


def report_from_lake(config: RuntimeConfig, group: str, ds: str) -> str | None:
    """The HTML report of the newest validation run of ``group`` on day ``ds`` (``YYYY-MM-DD``) from
    ``_weir/validation_runs``; None when there is none (or the run predates reports in the lake)."""
    from datetime import date

    import pyarrow.compute as pc

    from weir.lake.delta_log import open_table
    from weir.lake.paths import validation_runs_path

    table = open_table(validation_runs_path(config), config)
    if table is None or "report_html" not in table.schema().to_arrow().names:
        return None
    rows = table.to_pyarrow_table(columns=["group", "ds", "validated_at", "report_html"])
    mine = rows.filter(pc.and_(pc.equal(rows.column("group"), group),
                               pc.equal(rows.column("ds"), date.fromisoformat(ds))))
    found = [r for r in mine.to_pylist() if r["report_html"]]
    if not found:
        return None
    newest = max(found, key=lambda r: r["validated_at"] or datetime.min.replace(tzinfo=UTC))
    return str(newest["report_html"])
