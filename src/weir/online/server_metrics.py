"""Prometheus metrics of the feature server: ``/metrics``, and a middleware timing every request by route."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from weir import metrics

ERROR_KINDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               413: "too_large", 422: "invalid", 503: "store_unavailable"}
"""HTTP status -> the ``kind`` label of ``weir_serve_errors_total`` (other 4xx: ``client``, 5xx: ``internal``)."""


def error_kind(status: int) -> str | None:
    """The error kind of a response status, or None for a success."""
    if status < 400:
        return None
    return ERROR_KINDS.get(status, "client" if status < 500 else "internal")


def instrument(app: FastAPI) -> None:
    """Mount ``/metrics`` and time each request under its route template (bounded label values: unknown
    paths are counted as ``other``, never by their raw path)."""
    app.mount("/metrics", metrics.serve_metrics_app())
    routes = {getattr(r, "path", "") for r in app.routes}

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/metrics"):
            return await call_next(request)
        route = path if path in routes else "other"
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            metrics.SERVE_LATENCY.labels(route).observe(time.perf_counter() - start)
            kind = error_kind(status)
            if kind is not None:
                metrics.SERVE_ERRORS.labels(kind).inc()
