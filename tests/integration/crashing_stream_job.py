"""A group's streaming job that kills itself at one stage of one micro-batch (the exactly-once test's crash).

``python tests/integration/crashing_stream_job.py GROUP BATCH_ID STAGE [--trigger-seconds N]
[--max-offsets-per-trigger N]``: runs the group's query like ``weir/jobs/stream.py``, with a ``BatchProcessor``
``on_stage`` hook that calls ``os._exit(137)`` (no clean-up, like ``kill -9``) right after stage ``STAGE``
(``after_events`` or ``after_online``) of batch ``BATCH_ID``. The fault enters through that seam; the
production job reads no test setting.
"""

from __future__ import annotations

import argparse
import os

from weir.runtime import load_config
from weir.spark import get_spark
from weir.spec.loader import find_spec
from weir.stream.job import StreamOptions, run_stream


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("group")
    ap.add_argument("batch_id", type=int)
    ap.add_argument("stage", choices=["after_events", "after_online"])
    ap.add_argument("--trigger-seconds", type=float, default=10.0)
    ap.add_argument("--max-offsets-per-trigger", type=int, default=50_000)
    args = ap.parse_args()

    def crash(batch_id: int, stage: str) -> None:
        if (batch_id, stage) == (args.batch_id, args.stage):
            print(f"crashing in batch {batch_id} {stage}", flush=True)
            os._exit(137)

    config = load_config()
    group = find_spec(args.group, config.specs_dir)
    options = StreamOptions(trigger_seconds=args.trigger_seconds, max_offsets_per_trigger=args.max_offsets_per_trigger)
    run_stream(get_spark(f"weir-stream-{group.name}", config), group, config, options, on_stage=crash)


if __name__ == "__main__":
    main()
