"""Airflow DAG import check of Weir's feature specs: defines no DAG.

When a spec in feature_specs/ is broken, importing this file fails with every broken file, line, field and fix,
so the Airflow UI lists it as a DAG import error, while ``weir_feature_groups.py`` keeps the valid groups' DAGs.
"""

from weir.airflow.factory import raise_spec_errors

raise_spec_errors()
