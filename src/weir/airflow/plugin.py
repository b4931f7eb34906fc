"""The Airflow plugin: the Weir view (a FastAPI app at ``/weir``, linked from the UI's navigation)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from weir.airflow.operators import WeirSparkJobOperator, WeirTaskOperator
from weir.airflow.view import create_app

VIEW_PREFIX = "/weir"


class WeirPlugin(AirflowPlugin):
    name = "weir"
    fastapi_apps = [{"app": create_app(), "url_prefix": VIEW_PREFIX, "name": "Weir feature groups"}]
    external_views = [{
        "name": "Weir",
        "href": f"{VIEW_PREFIX}/",
        "destination": "nav",
        "url_route": "weir",
        "category": "browse",
    }]


__all__ = ["WeirPlugin", "WeirSparkJobOperator", "WeirTaskOperator"]
