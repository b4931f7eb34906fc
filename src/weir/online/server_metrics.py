"""Prometheus metrics of the feature server: ``/metrics``, and a middleware timing every request by route."""

from __future__ import annotations

import time

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weir import metrics

ERROR_KINDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               413: "too_large", 422: "invalid", 503: "store_unavailable"}
"""HTTP status -> the ``kind`` label of ``weir_serve_errors_total`` (other 4xx: ``client``, 5xx: ``internal``)."""


def error_kind(status: int) -> str | None:
    """The error kind of a response status, or None for a success."""
    if status < 400:
        return None
    return ERROR_KINDS.get(status, "client" if status < 500 else "internal")


class ObserveMiddleware:
    """Times each request under its route template and counts errors by kind (plain ASGI: no per-request task
    or response streaming wrapper, unlike ``@app.middleware("http")``)."""

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/metrics"):
            await self.app(scope, receive, send)
            return
        route = path if path in self.routes else "other"
        start = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            metrics.SERVE_LATENCY.labels(route).observe(time.perf_counter() - start)
            kind = error_kind(status)
            if kind is not None:
                metrics.SERVE_ERRORS.labels(kind).inc()


def instrument(app: FastAPI) -> None:
    """Mount ``/metrics`` and time each request under its route template (bounded label values: unknown
    paths are counted as ``other``, never by their raw path)."""
    app.mount("/metrics", metrics.serve_metrics_app())
    routes = frozenset(getattr(r, "path", "") for r in app.routes)
    app.add_middleware(ObserveMiddleware, routes=routes)
