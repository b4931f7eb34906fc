"""A streaming job that kills itself at one stage of one micro-batch (the exactly-once tests' crash).

``python tests/integration/crashing_job.py NAME BATCH_ID STAGE [--trigger-seconds N]
[--max-offsets-per-trigger N]``: the stage names the stream. ``after_events`` / ``after_online``: ``NAME`` is a
feature group, run like ``weir/jobs/stream.py`` (``run_stream``); ``after_deadletter`` / ``after_exposures``:
``NAME`` is the exposures topic (``run_exposure_stream``). Its ``on_stage`` hook calls ``os._exit(137)`` (no
clean-up, like ``kill -9``) right after ``STAGE`` of batch ``BATCH_ID``: that step's Delta append is committed,
Spark's batch is not. The fault enters through that seam; the production jobs read no test setting.
"""

from __future__ import annotations

import argparse
import os

from weir.runtime import load_config
from weir.spark import get_spark
from weir.spec.loader import find_spec
from weir.stream.exposures import run_exposure_stream
from weir.stream.job import StreamOptions, run_stream

GROUP_STAGES = ("after_events", "after_online")
EXPOSURE_STAGES = ("after_deadletter", "after_exposures")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name", help="the feature group, or the exposures topic (by the stage)")
    ap.add_argument("batch_id", type=int)
    ap.add_argument("stage", choices=[*GROUP_STAGES, *EXPOSURE_STAGES])
    ap.add_argument("--trigger-seconds", type=float, default=1.0)
    ap.add_argument("--max-offsets-per-trigger", type=int, default=50_000)
    args = ap.parse_args()

    def crash(batch_id: int, stage: str) -> None:
        if (batch_id, stage) == (args.batch_id, args.stage):
            print(f"crashing in batch {batch_id} {stage}", flush=True)
            os._exit(137)

    config = load_config()
    options = StreamOptions(trigger_seconds=args.trigger_seconds, max_offsets_per_trigger=args.max_offsets_per_trigger)
    if args.stage in EXPOSURE_STAGES:
        run_exposure_stream(get_spark("weir-stream-exposures", config), config, options, on_stage=crash,
                            topic=args.name)
    else:
        group = find_spec(args.name, config.specs_dir)
        run_stream(get_spark(f"weir-stream-{group.name}", config), group, config, options, on_stage=crash)


if __name__ == "__main__":
    main()
