"""spark-submit entry point: ``spark-submit weir/jobs/maintain.py --group GROUP --ds YYYY-MM-DD``.

Calls ``weir.pipeline.steps.maintain`` (``--group _platform``: Weir's own tables).
"""

import sys

from weir.pipeline.job import job_main
from weir.pipeline.steps import maintain

if __name__ == "__main__":
    sys.exit(job_main(maintain, prog="weir/jobs/maintain.py"))
