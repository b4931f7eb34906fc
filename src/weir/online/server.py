"""HTTP feature server: ``create_app(config)`` (FastAPI); ``weir serve --port 8000`` runs it with uvicorn.

* ``POST /features`` ``{"features": ["user_spend", "merchant_risk:merchant_txn_count_1d"],
  "entities": [{"user_id": "u1", "merchant_id": "m1"}], "at": null}`` -> ``{"read_ts": ..., "results": [...]}``
  (one result per entity, in order: ``entity`` and per group ``values``, ``found``, ``event_ts``, ``as_of``,
  ``age_s``, ``stale``, ``source_version``; see ``weir.online.client``).
* ``GET /healthz`` -> ``{"status": "ok", "groups": [...]}``; OpenAPI at ``/openapi.json``, docs at ``/docs``.

Errors carry ``{"detail": message}``: unknown group or feature -> 404, bad entity keys or body -> 422,
online store unavailable -> 503.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from weir.compute.windows import us_to_datetime
from weir.online.client import OnlineClient, parse_at
from weir.online.errors import FeatureRequestError, OnlineStoreError
from weir.runtime import RuntimeConfig, load_config

STATUS = {"unknown_group": 404, "unknown_feature": 404}


class FeatureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] = Field(min_length=1, description="group names or group:feature_column",
                                examples=[["user_spend", "merchant_risk:merchant_txn_count_1d"]])
    entities: list[dict[str, Any] | str | int | float | bool] = Field(
        min_length=1, max_length=1000, description="entity keys: mappings, or scalars for single-key groups",
        examples=[[{"user_id": "u1"}]])
    at: str | float | None = Field(default=None, description="read time (ISO 8601 or epoch seconds); default now")


class GroupResult(BaseModel):
    values: dict[str, Any]
    found: bool
    event_ts: str | None
    as_of: str | None
    age_s: float | None
    stale: bool | None
    source_version: int | None


class EntityResult(BaseModel):
    entity: Any
    groups: dict[str, GroupResult]


class FeatureResponse(BaseModel):
    read_ts: str
    results: list[EntityResult]


def create_app(config: RuntimeConfig | None = None, client: OnlineClient | None = None) -> FastAPI:
    """The FastAPI app serving ``client`` (default: an OnlineClient over ``config`` and its specs)."""
    config = config or load_config()
    online = client or OnlineClient(config)
    app = FastAPI(title="Weir feature server", version="1",
                  description="Online features from the Weir online store, merged at read time.")

    @app.exception_handler(FeatureRequestError)
    def _bad_request(_: Request, exc: FeatureRequestError) -> JSONResponse:
        return JSONResponse(status_code=STATUS.get(exc.kind, 422), content={"detail": str(exc)})

    @app.exception_handler(OnlineStoreError)
    def _store_down(_: Request, exc: OnlineStoreError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "groups": sorted(online.groups)}

    @app.post("/features", response_model=FeatureResponse)
    def features(body: FeatureRequest) -> dict[str, Any]:
        t_us = parse_at(body.at)
        results = online.get_features(body.features, body.entities, at=us_to_datetime(t_us))
        return {"read_ts": us_to_datetime(t_us).isoformat(), "results": [r.to_dict() for r in results]}

    return app
