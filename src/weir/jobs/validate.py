"""spark-submit entry point: ``spark-submit weir/jobs/validate.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.steps.validate``.
"""

import sys

from weir.pipeline.job import job_main
from weir.pipeline.steps import validate

if __name__ == "__main__":
    sys.exit(job_main(validate, prog="weir/jobs/validate.py"))
