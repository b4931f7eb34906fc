"""spark-submit entry point: ``spark-submit weir/jobs/analyse_experiment.py --group EXPERIMENT --ds YYYY-MM-DD``.

Calls ``weir.experiments.analysis.analysis_step`` (``--group`` names the experiment).
"""

import sys

from weir.experiments.analysis import analysis_step
from weir.pipeline.job import job_main

if __name__ == "__main__":
    sys.exit(job_main(analysis_step, prog="weir/jobs/analyse_experiment.py"))
