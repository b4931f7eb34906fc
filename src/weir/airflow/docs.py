"""A feature group's spec rendered as the DAG's ``doc_md`` (pure Python)."""

from __future__ import annotations

from weir.spec.models import FeatureGroup


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_doc_md(group: FeatureGroup) -> str:
    """Markdown: what the group is, where its data comes from, every output column, SLOs and expectations."""
    src = group.source
    sources = []
    if src.delta:
        sources.append(f"Delta table `{src.delta}`")
    if src.kafka:
        sources.append(f"Kafka topic `{src.kafka.topic}` ({src.kafka.format})")
    lines = [
        f"# Feature group `{group.name}`",
        "",
        group.description or "_no description_",
        "",
        f"- **owner**: {group.owner or 'n/a'}",
        f"- **entity**: {group.entity.name} (keys: {', '.join(f'`{k}`' for k in group.key_columns)})",
        f"- **source**: {' and '.join(sources)}; event time `{src.event_time}`",
        f"- **schedule**: `{group.schedule}`; each run computes the day `ds` (features as of its end, "
        "00:00 UTC the next day), validates it, publishes it online and checks the online store",
        f"- **online**: enabled={group.online.enabled}, TTL {group.online.ttl}, "
        f"freshness SLO {group.online.freshness_slo or 'none'}",
        f"- **spec file**: `{group.path or 'n/a'}` (version {group.version}, hash `{group.spec_hash()[:12]}`)",
        "",
        "## Features",
        "",
        "| column | aggregation | source column | window | filter |",
        "| --- | --- | --- | --- | --- |",
    ]
    for col in group.output_columns():
        f = col.feature
        lines.append(f"| `{col.name}` | {f.aggregation.value} | {_cell(f.column or '*')} | "
                     f"{col.window or 'lifetime'} | {_cell(f.where or '')} |")
    if group.expectations:
        lines += ["", "## Expectations (on top of Weir's built-in checks)", ""]
        for e in group.expectations:
            args = ", ".join(f"{k}={v!r}" for k, v in e.kwargs.items())
            lines.append(f"- `{e.expectation}({_cell(args)})`")
    lines += ["", "Backfill: `airflow backfill create --dag-id weir__" + group.name
              + " --from-date 2026-10-01 --to-date 2026-10-31 --reprocess-behavior completed` (or from the UI, "
              "reprocess behaviour *All runs* or *Missing and errored runs*); days run in date order (each day's "
              "compute waits for the previous day's) and replace their `ds` partition."]
    return "\n".join(lines) + "\n"
