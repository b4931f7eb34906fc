"""spark-submit entry point: ``spark-submit weir/jobs/publish.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.steps.publish``.
"""

import sys

from weir.pipeline.job import job_main
from weir.pipeline.steps import publish

if __name__ == "__main__":
    sys.exit(job_main(publish, prog="weir/jobs/publish.py"))
