"""Airflow DAGs of Weir: one DAG ``weir__<group>`` per spec in feature_specs/, and the streaming supervisor.

Adding a YAML spec adds a DAG. Everything is built by ``weir.airflow.factory.build_dags``; this file holds no
logic. Broken specs are reported as the import error of ``weir_spec_errors.py`` next to this file.
"""

from weir.airflow.factory import build_dags

globals().update(build_dags())
