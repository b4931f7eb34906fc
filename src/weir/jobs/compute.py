"""spark-submit entry point: ``spark-submit weir/jobs/compute.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.steps.compute``.
"""

import sys

from weir.pipeline.job import job_main
from weir.pipeline.steps import compute

if __name__ == "__main__":
    sys.exit(job_main(compute, prog="weir/jobs/compute.py"))
