"""Entry point of the exposure stream: ``python weir/jobs/exposures.py [--available-now] [--trigger-seconds N]``
(also under spark-submit); the same as ``weir experiments stream-exposures``."""

from weir.cli.exposures import stream_exposures_cmd

if __name__ == "__main__":
    stream_exposures_cmd(prog_name="weir/jobs/exposures.py")
