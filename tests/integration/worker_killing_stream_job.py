"""A group's streaming job whose Python worker kills itself in the middle of its online writes (a test seam).

``python tests/integration/worker_killing_stream_job.py GROUP BATCH_ID AFTER MARKER``: drains the group's topic
(available-now) like ``weir/jobs/stream.py``, with a ``write_fault`` (:data:`weir.stream.executor.WriteFault`)
that, in the first attempt of each task of micro-batch ``BATCH_ID``, once ``AFTER`` entities are written
(two entities per chunk), touches ``MARKER`` and sends SIGKILL to its own Python worker process. Spark then
runs the task again (the master must allow task retries: ``WEIR_SPARK_MASTER=local[2,4]``). The fault enters
through that seam; the production job passes none.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from weir.runtime import load_config
from weir.spark import get_spark
from weir.spec.loader import find_spec
from weir.stream.job import StreamOptions, run_stream


class KillWorker:
    """Kills the Python worker running the task (first attempt only, so the retry can finish)."""

    def __init__(self, batch_id: int, after: int, marker: str) -> None:
        self.batch_id, self.after, self.marker = batch_id, after, marker

    def __call__(self, batch_id: int, applied: int) -> None:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if batch_id == self.batch_id and applied >= self.after and ctx is not None and ctx.attemptNumber() == 0:
            Path(self.marker).write_text(f"killed worker {os.getpid()} after {applied} entities, "
                                         f"partition {ctx.partitionId()}\n")
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("group")
    ap.add_argument("batch_id", type=int)
    ap.add_argument("after", type=int)
    ap.add_argument("marker")
    args = ap.parse_args()
    config = load_config()
    group = find_spec(args.group, config.specs_dir)
    options = StreamOptions(available_now=True, entities_per_chunk=2, write_threads_per_task=2)
    run_stream(get_spark(f"weir-stream-{group.name}", config), group, config, options,
               write_fault=KillWorker(args.batch_id, args.after, args.marker))


if __name__ == "__main__":
    main()
