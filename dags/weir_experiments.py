"""Airflow DAGs of Weir's experiments: one daily analysis DAG ``weir_experiment__<name>`` per declaration in
experiments/.

Adding a YAML declaration adds a DAG. Everything is built by ``weir.airflow.experiment_dags``; this file holds no
logic. Broken declarations are reported as the import error of ``weir_experiment_errors.py`` next to this file.
"""

from weir.airflow.experiment_dags import build_experiment_dags

globals().update(build_experiment_dags())
