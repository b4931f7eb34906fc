"""``weir experiments|flags list|describe|validate|evaluate|audit`` and the runtime switches
``pause|resume|kill|unkill|rollout`` (audited: ``--who`` is required)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from weir.runtime import load_config

if TYPE_CHECKING:
    from weir.experiments.models import Declaration
    from weir.experiments.overrides import CachedOverrides


def _dir(kind: str, path: str | None) -> Path:
    from weir.experiments.catalog import declarations_dir

    return Path(path) if path else declarations_dir(load_config(), kind)


def _overrides() -> CachedOverrides:
    """The runtime state from the configured override store (file or DynamoDB: ``WEIR_EXPERIMENTS_OVERRIDES``)."""
    from weir.experiments.catalog import overrides_for
    from weir.online.override_store import override_store

    config = load_config()
    return overrides_for(config, store=override_store(config))


def _load(kind: str) -> list[Declaration]:
    from weir.experiments.loader import load_declarations
    from weir.spec import SpecError, load_specs

    try:
        return load_declarations(_dir(kind, None), kind, load_specs(load_config().specs_dir))
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None


def _group(kind: str) -> click.Group:
    plural = f"{kind}s"

    @click.group(plural)
    def group() -> None:
        pass

    group.help = f"{kind.capitalize()} declarations ({plural}/*.yaml): catalog, evaluation, runtime switches."

    @group.command("validate")
    @click.argument("path", required=False)
    def validate(path: str | None) -> None:
        from weir.experiments.loader import load_declarations, validate_declarations
        from weir.spec import load_specs

        target = _dir(kind, path)
        groups = load_specs(load_config().specs_dir)
        errors = validate_declarations(target, kind, groups)
        if errors:
            for e in errors:
                click.echo(str(e), err=True)
            raise click.ClickException(f"{len(errors)} problem(s) in {target}")
        decls = load_declarations(target, kind, groups)
        click.echo(f"ok: {len(decls)} {kind}(s) in {target}: {', '.join(d.name for d in decls)}")

    validate.help = f"Check every {kind} under PATH (default: {plural}/); each error with file, line, field, fix."

    @group.command("list")
    def list_() -> None:
        from rich.console import Console
        from rich.table import Table

        overrides = _overrides()
        table = Table("name", "entity", "variants", "rollout", "window", "state", "owner")
        for d in _load(kind):
            s = overrides.state(d.name)
            state = "killed" if s.killed else "paused" if s.paused else "on"
            rollout = s.rollout if s.rollout is not None else d.rollout
            window = f"{d.start.date() if d.start else '-'}..{d.end.date() if d.end else '-'}"
            table.add_row(d.name, f"{d.entity.name} ({d.entity.key})",
                          ", ".join(f"{v.name}:{v.weight:g}" for v in d.variants), f"{rollout:g}%", window,
                          state, d.owner or "")
        Console().print(table)

    list_.help = f"Every {kind} with its variants, rollout, dates and runtime state."

    @group.command("describe")
    @click.argument("name")
    def describe(name: str) -> None:
        from weir.experiments.targeting import features_of

        decls = {d.name: d for d in _load(kind)}
        if name not in decls:
            raise click.ClickException(f"no {kind} named '{name}'; known: {', '.join(sorted(decls)) or 'none'}")
        d = decls[name]
        click.echo(json.dumps(d.model_dump(mode="json"), indent=2))
        click.echo(f"declared in {d.path}")
        if d.rule is not None:
            click.echo(f"targeting reads (one online read): {json.dumps(features_of(d.rule))}")
        click.echo(f"runtime state: {_overrides().state(name)}")

    describe.help = f"The {kind} NAME in full, the features its targeting reads and its runtime state."

    @group.command("evaluate")
    @click.argument("name")
    @click.argument("key")
    @click.option("--attr", "attrs", multiple=True, help="a plain attribute as name=value (repeatable)")
    def evaluate(name: str, key: str, attrs: tuple[str, ...]) -> None:
        from weir.experiments.catalog import evaluator_for
        from weir.online.client import OnlineClient

        config = load_config()
        attributes = dict(a.split("=", 1) for a in attrs if "=" in a)
        from weir.online.override_store import override_store

        ev = evaluator_for(config, OnlineClient(config), overrides=override_store(config))
        try:
            a = ev.evaluate(name, key, attributes)
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from None
        click.echo(json.dumps(a.__dict__))

    evaluate.help = f"Evaluate the {kind} NAME for entity KEY (reads the online store; logs no exposure)."

    @group.command("audit")
    @click.argument("name", required=False)
    def audit(name: str | None) -> None:
        for change in _overrides().audit(name):
            click.echo(json.dumps(change))

    audit.help = "Every runtime change (who, when, what, why) of NAME (default: all), oldest first."

    for action in ("pause", "resume", "kill", "unkill", "rollout"):
        group.add_command(_switch(kind, action))
    return group


def _switch(kind: str, action: str) -> click.Command:
    def run(name: str, who: str, reason: str, percent: float | None = None) -> None:
        if name not in {d.name for d in _load(kind)}:
            raise click.ClickException(f"no {kind} named '{name}'")
        try:
            c = _overrides().change(name, action, who, percent, reason)  # type: ignore[arg-type]
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{c.action} {c.name} by {c.who}" + (f" to {c.rollout:g}%" if c.rollout is not None else ""))

    params: list[click.Parameter] = [
        click.Argument(["name"]),
        click.Option(["--who"], required=True, help="who makes the change (audited)"),
        click.Option(["--reason"], default="", help="why (audited)"),
    ]
    if action == "rollout":
        params.insert(1, click.Argument(["percent"], type=float))
    helps = {"pause": "Pause NAME: everyone gets the default variant, no exposures.",
             "resume": "Undo a pause.", "kill": "Kill switch: NAME serves its default variant to everyone.",
             "unkill": "Undo a kill.", "rollout": "Set NAME's rollout to PERCENT (0-100) of targeted entities."}
    return click.Command(action, callback=run, params=params, help=helps[action] + " Takes effect within the "
                         "overrides cache TTL (5 s) in every process, without a deploy.")


def _experiments_group() -> click.Group:
    from weir.cli.exposures import stream_exposures_cmd

    group = _group("experiment")
    group.add_command(stream_exposures_cmd)
    return group


COMMANDS = [_experiments_group(), _group("flag")]
