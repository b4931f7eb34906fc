"""spark-submit entry point: ``spark-submit jobs/run_day.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.compute_day``.
"""

import sys

from weir.pipeline import compute_day, job_main

if __name__ == "__main__":
    sys.exit(job_main(compute_day, prog="jobs/run_day.py"))
