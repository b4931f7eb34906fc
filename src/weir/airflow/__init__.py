"""Weir on Airflow: a DAG per feature group from its spec, thin operators, and the Weir view in the UI.

``weir.airflow.factory.build_dags`` (used by ``dags/weir_feature_groups.py``), ``weir.airflow.operators``
(``WeirSparkJobOperator``, ``WeirTaskOperator``), ``weir.airflow.plugin`` (the ``AirflowPlugin`` with the Weir
view, re-exported by ``plugins/weir_plugin.py``). Pure pieces (``settings``, ``docs``, ``submit``) import no
Airflow; the business logic lives in ``weir.pipeline.steps``, which runs without Airflow.
"""
