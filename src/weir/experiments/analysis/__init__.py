"""The daily analysis of an experiment: first exposures, outcomes after them, covariates as of them (from the
training-set builder), the statistics of ``weir.experiments.stats``, and the results table in the lake.

Spark is imported inside the functions: the DAG file and the view import nothing heavy from here.
"""

from weir.experiments.analysis.run import analyse_experiment, analysis_step

__all__ = ["analyse_experiment", "analysis_step"]
