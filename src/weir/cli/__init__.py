"""The ``weir`` command line. Each concern registers its commands from its own module below."""

from __future__ import annotations

import importlib

import click

COMMAND_MODULES = [
    "dev", "smoke", "demo", "specs", "batch", "online", "validate_data", "training", "airflow_cmd", "stream",
    "deadletters", "maintain", "jars", "catalog", "experiments",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="weir")
def cli() -> None:
    """Weir: declare features once; compute, validate, serve and train on them."""


for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"weir.cli.{_name}")
    for _command in getattr(_module, "COMMANDS", []):
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="weir")
