"""Entry point of a group's streaming job: ``python weir/jobs/stream.py GROUP [--available-now] [--trigger-seconds N]``
(also under spark-submit)."""

import click

from weir.cli.stream import stream_cmd

if __name__ == "__main__":
    cli = click.Group(commands={"stream": stream_cmd})
    import sys

    cli(["stream", *sys.argv[1:]], prog_name="weir/jobs/stream.py")
