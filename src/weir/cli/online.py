"""``weir online init``, ``weir publish``, ``weir get``, ``weir serve``: the online store from the shell."""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from weir.runtime import load_config


@click.group("online")
def online() -> None:
    """The DynamoDB online store."""


@online.command("init")
@click.argument("group", required=False)
def init(group: str | None) -> None:
    """Create the online table of GROUP (default: every group with online.enabled); idempotent."""
    from weir.online.store import DynamoOnlineStore
    from weir.spec.loader import find_spec, load_specs

    config = load_config()
    groups = [find_spec(group, config.specs_dir)] if group else [g for g in load_specs(config.specs_dir)
                                                                  if g.online.enabled]
    store = DynamoOnlineStore(config)
    for g in groups:
        click.echo(f"{g.name}: table {store.ensure_table(g.name)} ready (TTL on expires_at)")


@click.command("publish")
@click.argument("group")
@click.option("--date", "ds", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="day whose end (next day 00:00 UTC) the values are as of")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def publish_cmd(group: str, ds: datetime, no_progress: bool) -> None:
    """Publish GROUP's tiles as of the end of --date to the online store (newest wins)."""
    from weir.online.publish import publish
    from weir.spark import get_spark

    config = load_config()
    spark = get_spark(f"weir-publish-{group}", config)
    summary = publish(spark, group, ds.date(), config, progress=not no_progress)
    for line in summary.lines():
        click.echo(line)


@click.command("get")
@click.argument("group")
@click.argument("keys", nargs=-1, required=True)
@click.option("--at", "at", default=None, help="read time, ISO 8601 (default: now)")
@click.option("--json", "as_json", is_flag=True,
              help="print exact values as JSON, in the shape of the HTTP server's POST /features response")
def get_cmd(group: str, keys: tuple[str, ...], at: str | None, as_json: bool) -> None:
    """Show GROUP's features for entities: KEY is a value (single-key groups) or k=v[,k=v] pairs.

    GROUP may also be group:feature_column. The table rounds numbers to 4 significant digits for reading;
    --json prints every value exactly (floats round-trip), with the read time used.
    """
    from rich.console import Console
    from rich.table import Table

    from weir.compute.windows import us_to_datetime
    from weir.online.client import OnlineClient, parse_at
    from weir.online.errors import FeatureRequestError
    from weir.online.keys import coerce_key_text

    client = OnlineClient(load_config())
    try:
        name = group.partition(":")[0]
        wanted = client.resolve([group])
        spec = client.groups[name]
        entities: list[object] = []
        for text in keys:
            if "=" in text:
                pairs = dict(p.split("=", 1) for p in text.split(","))
                entities.append({k: coerce_key_text(v, spec.source.columns[k], k) if k in spec.source.columns else v
                                 for k, v in pairs.items()})
            else:
                entities.append(coerce_key_text(text, spec.source.columns[spec.key_columns[0]], spec.key_columns[0]))
        read_at = us_to_datetime(parse_at(at))
        results = client.get_features([group], entities, at=read_at)
    except FeatureRequestError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"read_ts": read_at.isoformat(), "results": [r.to_dict() for r in results]},
                              indent=2))
        return
    columns = wanted[name]
    table = Table(title=f"{name} at {read_at.isoformat()}")  # one row per feature, one column per entity
    table.add_column("feature", style="bold")
    for res in results:
        table.add_column(_fmt(res.entity), justify="right")
    groups = [res.groups[name] for res in results]
    for c in columns:
        table.add_row(c, *[_fmt(g.values[c]) for g in groups])
    table.add_section()
    table.add_row("found", *[_fmt(g.found) for g in groups], style="dim")
    table.add_row("event_ts", *[_fmt(g.event_ts) for g in groups], style="dim")
    table.add_row("age_s", *[_fmt(g.age_s) for g in groups], style="dim")
    table.add_row("stale", *[_fmt(g.stale) for g in groups], style="dim")
    table.add_row("source_version", *[_fmt(g.source_version) for g in groups], style="dim")
    Console().print(table)


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items())
    return str(v)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback needs API keys (or --insecure-no-auth)")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--api-keys-file", type=click.Path(dir_okay=False), default=None,
              help="file of accepted API keys, one a line (also: WEIR_SERVE_API_KEYS, WEIR_SERVE_API_KEYS_FILE)")
@click.option("--insecure-no-auth", is_flag=True,
              help="serve a non-loopback address without API keys (only behind an authenticating proxy)")
@click.option("--max-body-bytes", default=1 << 20, show_default=True, type=click.IntRange(min=1024))
@click.option("--max-entities", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--max-features", default=100, show_default=True, type=click.IntRange(min=1))
def serve(host: str, port: int, api_keys_file: str | None, insecure_no_auth: bool, max_body_bytes: int,
          max_entities: int, max_features: int) -> None:
    """Serve features over HTTP (POST /features, GET /healthz, /docs).

    Callers send a key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>' when keys are configured.
    """
    import uvicorn

    from weir.online.http_guard import ServeConfigError, bind_policy, load_api_keys
    from weir.online.server import ServeLimits, create_app
    from weir.stream.exposure_logging import kafka_exposure_logger

    try:
        keys = load_api_keys(keys_file=api_keys_file)
        warning = bind_policy(host, keys, insecure_no_auth)
    except ServeConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if warning:
        click.secho(warning, fg="red", bold=True, err=True)
    limits = ServeLimits(max_body_bytes=max_body_bytes, max_entities=max_entities, max_features=max_features)
    click.echo(f"weir serve on {host}:{port}: " + (f"{len(keys.digests)} API key(s) required" if keys
                                                     else "no API keys (open to every caller that can connect)"),
               err=True)
    config = load_config()
    exposures = kafka_exposure_logger(config)
    click.echo("exposures of /flags/evaluate: " + (f"to Kafka at {config.kafka_bootstrap_servers}" if exposures
                                                   else "not logged (no Kafka configured)"), err=True)
    uvicorn.run(create_app(config, api_keys=keys, limits=limits, exposures=exposures), host=host, port=port,
                log_level="info", server_header=False, timeout_keep_alive=5, limit_concurrency=256)


COMMANDS = [online, publish_cmd, get_cmd, serve]
