"""spark-submit entry point: ``spark-submit jobs/validate.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.validate_day_task``.
"""

import sys

from weir.pipeline import job_main, validate_day_task

if __name__ == "__main__":
    sys.exit(job_main(validate_day_task, prog="jobs/validate.py"))
