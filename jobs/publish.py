"""spark-submit entry point: ``spark-submit jobs/publish.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.publish_day``.
"""

import sys

from weir.pipeline import job_main, publish_day

if __name__ == "__main__":
    sys.exit(job_main(publish_day, prog="jobs/publish.py"))
