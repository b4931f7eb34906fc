"""A feature group's daily pipeline without Airflow: the steps, their run-status store and the job CLI.

``weir.pipeline.steps`` (compute, validate, publish, check_freshness, ensure_stream: one verb each, shared
by the function, the Airflow task id, the ``weir/jobs/<step>.py`` job and the status row), ``weir.pipeline.status``
(each step's result, a Delta table in the lake) and ``weir.pipeline.job`` (``weir/jobs/*.py``: arguments, summary
line, exit codes). Import the module you need: this package imports nothing.
"""
