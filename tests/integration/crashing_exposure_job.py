"""The exposure stream, killing itself at one stage of one micro-batch (the exactly-once test's crash).

``python tests/integration/crashing_exposure_job.py TOPIC BATCH_ID STAGE [--trigger-seconds N]
[--max-offsets-per-trigger N]``: runs ``weir.stream.exposures.run_exposure_stream`` with an ``on_stage`` hook
that calls ``os._exit(137)`` (no clean-up, like ``kill -9``) right after ``STAGE`` (``after_deadletter`` or
``after_exposures``: the Delta append is committed, Spark's batch is not) of batch ``BATCH_ID``. The fault enters
through that seam; the production job reads no test setting.
"""

from __future__ import annotations

import argparse
import os

from weir.runtime import load_config
from weir.spark import get_spark
from weir.stream.exposures import run_exposure_stream
from weir.stream.job import StreamOptions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("topic")
    ap.add_argument("batch_id", type=int)
    ap.add_argument("stage", choices=["after_deadletter", "after_exposures"])
    ap.add_argument("--trigger-seconds", type=float, default=1.0)
    ap.add_argument("--max-offsets-per-trigger", type=int, default=50_000)
    args = ap.parse_args()

    def crash(batch_id: int, stage: str) -> None:
        if (batch_id, stage) == (args.batch_id, args.stage):
            print(f"crashing in batch {batch_id} {stage}", flush=True)
            os._exit(137)

    config = load_config()
    options = StreamOptions(trigger_seconds=args.trigger_seconds, max_offsets_per_trigger=args.max_offsets_per_trigger)
    run_exposure_stream(get_spark("weir-stream-exposures", config), config, options, on_stage=crash,
                        topic=args.topic)


if __name__ == "__main__":
    main()
