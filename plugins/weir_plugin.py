"""Airflow plugins folder entry: Weir's plugin (the Weir view) and its operators, from the weir package."""

from weir.airflow.plugin import WeirPlugin, WeirSparkJobOperator, WeirTaskOperator

__all__ = ["WeirPlugin", "WeirSparkJobOperator", "WeirTaskOperator"]
