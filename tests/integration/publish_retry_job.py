"""The daily publish with one Python worker killed mid-partition (the executor-writes retry test's child process).

``python tests/integration/publish_retry_job.py GROUP DS MARKER AFTER``: runs :func:`weir.online.publish.publish`
in its own Spark session (the test sets ``WEIR_SPARK_MASTER=local[2,4]``: in local mode a task is retried only
when the master allows more than one failure) with the test-only seam :data:`weir.online.spark_writes.FAULT` set,
so the first task to complete AFTER writes kills its Python worker (``os._exit``) once; Spark retries the task.
Prints the summary as JSON on the last line. The production publish reads no test setting.
"""

from __future__ import annotations

import json
import sys
from datetime import date

from weir.online import spark_writes
from weir.online.publish import publish
from weir.runtime import load_config
from weir.spark import get_spark


def main() -> None:
    group, ds, marker, after = sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    config = load_config()
    spark = get_spark("weir-publish-retry", config)
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")  # several partitions, small data
    spark_writes.FAULT = spark_writes.CrashOnce(marker, after)
    s = publish(spark, group, ds, config, progress=False, log=False)
    print(json.dumps({"entities": s.entities, "written": s.written, "skipped": s.skipped, "expired": s.expired,
                      "invalid": s.invalid, "too_large": s.too_large}), flush=True)


if __name__ == "__main__":
    main()
