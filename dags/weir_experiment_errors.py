"""Airflow DAG import check of Weir's experiment declarations: defines no DAG.

When a declaration in experiments/ is broken, importing this file fails with every broken file, line, field and
fix, so the Airflow UI lists it as a DAG import error, while ``weir_experiments.py`` keeps the valid ones' DAGs.
"""

from weir.airflow.experiment_dags import raise_experiment_errors

raise_experiment_errors()
