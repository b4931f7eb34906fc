"""HTTP feature server: ``create_app(config)`` (FastAPI); ``weir serve --port 8000`` runs it with uvicorn.

* ``POST /features`` ``{"features": ["user_spend", "merchant_risk:merchant_txn_count_1d"],
  "entities": [{"user_id": "u1", "merchant_id": "m1"}], "at": null}`` -> ``{"read_ts": ..., "results": [...]}``
  (one result per entity, in order: ``entity`` and per group ``values``, ``found``, ``event_ts``, ``as_of``,
  ``age_s``, ``stale``, ``source_version``; see ``weir.online.client``).
* ``GET /healthz`` -> ``{"status": "ok", "groups": [...]}``; ``GET /metrics``: Prometheus metrics
  (``weir.metrics``); OpenAPI at ``/openapi.json``, docs at ``/docs``.

Errors carry ``{"detail": message}``: unknown group or feature -> 404, any malformed body or value -> 422,
body over the size bound -> 413, missing or wrong API key -> 401, online store unavailable -> 503. Messages
are clipped and never repeat the request body. The body is parsed here, strictly (no NaN/Infinity, no number
that overflows, UTF-8 without lone surrogates), so no value a caller sends can reach the store as a 500.
API keys and the body bound live in :mod:`weir.online.http_guard`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from weir.compute.windows import us_to_datetime
from weir.experiments.evaluate import Evaluator
from weir.experiments.exposures import ExposureLogger
from weir.metrics import declare_slos, record_served
from weir.online.client import OnlineClient, parse_at
from weir.online.errors import FeatureRequestError, OnlineStoreError
from weir.online.flag_routes import add_flag_routes, default_evaluator
from weir.online.http_guard import ApiKeyMiddleware, ApiKeys, BodyLimitMiddleware
from weir.online.server_metrics import instrument
from weir.runtime import RuntimeConfig, load_config

STATUS = {"unknown_group": 404, "unknown_feature": 404}
MAX_DETAIL = 300  # characters of an error message; longer ones are clipped (never echo a big input)
MIN_AT_S, MAX_AT_S = 0, 253_370_764_800  # read times from 1970-01-01 to 9999-01-01 (UTC)

Scalar = StrictStr | StrictInt | StrictFloat | StrictBool


@dataclass(frozen=True)
class ServeLimits:
    """Bounds on the work of one request (each checked before any store read)."""

    max_body_bytes: int = 1 << 20
    max_entities: int = 1000
    max_features: int = 100
    max_keys_per_entity: int = 16
    max_text_chars: int = 2048  # a feature reference, an entity key name or value, an ``at`` string


class FeatureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[StrictStr] = Field(min_length=1, description="group names or group:feature_column",
                                      examples=[["user_spend", "merchant_risk:merchant_txn_count_1d"]])
    entities: list[dict[StrictStr, Scalar] | Scalar] = Field(
        min_length=1, description="entity keys: mappings, or scalars for single-key groups",
        examples=[[{"user_id": "u1"}]])
    at: StrictStr | StrictInt | StrictFloat | None = Field(
        default=None, description="read time (ISO 8601 or epoch seconds, 1970 to 9999); default now")


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


class BadRequest(ValueError):
    """A request the server will not run; ``status`` is its HTTP status (422 unless said otherwise)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def clip(message: str, limit: int = MAX_DETAIL) -> str:
    """An error message safe to send: at most ``limit`` characters, lone surrogates escaped."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit - 15] + "... (clipped)"


def _no_constant(name: str) -> float:
    raise BadRequest(f"{name} is not a number JSON allows; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest("a number in the body overflows a 64-bit float; send a finite number")
    return value


def parse_body(raw: bytes) -> Any:
    """Strict JSON: UTF-8, finite numbers only (``NaN``, ``Infinity`` and ``1e400`` are refused)."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except BadRequest:
        raise
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8; send UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError):  # integers of over 4300 digits; nesting deeper than the parser's stack
        raise BadRequest("the body holds a number too long or nesting too deep; send a flat feature request") \
            from None


def _check_text(text: str, where: str, limits: ServeLimits) -> None:
    if len(text) > limits.max_text_chars:
        raise BadRequest(f"{where}: longer than {limits.max_text_chars} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{where}: holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode") from None


def _check_scalar(value: Any, where: str, limits: ServeLimits) -> None:
    if isinstance(value, str):
        _check_text(value, where, limits)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"{where}: not a finite number")


def _validation_message(exc: ValidationError) -> str:
    """Pydantic's errors without their ``input`` (which may be huge): ``loc: msg; loc: msg``."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith(("str", "int", "float", "bool",
                                                                              "dict[")))
        parts.append(f"{loc or 'body'}: {err['msg']}")
    return "; ".join(parts)


def validate_request(data: Any, limits: ServeLimits) -> FeatureRequest:
    """The request as a :class:`FeatureRequest` within ``limits``; :class:`BadRequest` names what is wrong."""
    if isinstance(data, dict):  # the bounds first, so an oversized list is refused before it is validated
        for name, bound in (("features", limits.max_features), ("entities", limits.max_entities)):
            if isinstance(data.get(name), list) and len(data[name]) > bound:
                raise BadRequest(f"{name}: {len(data[name])} given, at most {bound} per request; split the request")
    try:
        req = FeatureRequest.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_validation_message(exc)) from None
    for i, ref in enumerate(req.features):
        _check_text(ref, f"features.{i}", limits)
    for i, entity in enumerate(req.entities):
        if isinstance(entity, dict):
            if len(entity) > limits.max_keys_per_entity:
                raise BadRequest(f"entities.{i}: {len(entity)} keys, at most {limits.max_keys_per_entity}")
            for k, v in entity.items():
                _check_text(k, f"entities.{i}: a key name", limits)
                _check_scalar(v, f"entities.{i}.{clip(k, 40)}", limits)
        else:
            _check_scalar(entity, f"entities.{i}", limits)
    if isinstance(req.at, str):
        _check_text(req.at, "at", limits)
    return req


def read_time_us(at: str | int | float | None) -> int:
    """``at`` as epoch micros, within 1970..9999; a :class:`BadRequest` for anything else."""
    if isinstance(at, int | float) and not (MIN_AT_S <= at <= MAX_AT_S):
        raise BadRequest(f"at: {at!r} is outside 0..{MAX_AT_S} epoch seconds (1970 to 9999)")
    try:
        t_us = parse_at(at)
        us_to_datetime(t_us)
    except FeatureRequestError as exc:
        raise BadRequest(f"at: {exc}") from None
    except (OverflowError, ValueError):
        raise BadRequest("at: outside the representable dates; use an ISO 8601 time between 1970 and 9999") \
            from None
    if not MIN_AT_S * 1_000_000 <= t_us <= MAX_AT_S * 1_000_000:
        raise BadRequest("at: outside 1970-01-01 to 9999-01-01 UTC")
    return t_us


def json_response(payload: dict[str, Any]) -> Any:
    """The answer as JSON, written once: ``to_dict`` already gives JSON types, so neither ``jsonable_encoder`` nor
    the response model's validation runs per request (the model still documents the response). A NaN or infinite
    value (JSON has none) takes the model's path, which writes it as null."""
    try:
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return jsonable_encoder(payload)
    return Response(body.encode("utf-8"), media_type="application/json")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": clip(message)})


def create_app(config: RuntimeConfig | None = None, client: OnlineClient | None = None,
               api_keys: ApiKeys | None = None, limits: ServeLimits | None = None,
               flags: Evaluator | None = None, exposures: ExposureLogger | None = None) -> FastAPI:
    """The FastAPI app serving ``client`` (default: an OnlineClient over ``config`` and its specs).

    ``api_keys``: callers must present one of them (none = no check; :func:`weir.online.http_guard.bind_policy`
    decides where that is allowed). ``limits``: bounds on one request. ``flags``: evaluates ``POST /flags/evaluate``
    (default without ``client``: the declarations under flags/ and experiments/ beside the specs, logging each
    assignment to ``exposures``, a non-blocking logger closed at shutdown).
    """
    config = config or load_config()
    online = client or OnlineClient(config)
    keys = api_keys or ApiKeys(())
    bounds = limits or ServeLimits()
    app = FastAPI(title="Weir feature server", version="1",
                  description="Online features from the Weir online store, merged at read time.")

    @app.exception_handler(BadRequest)
    def _bad(_: Request, exc: BadRequest) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(FeatureRequestError)
    def _bad_request(_: Request, exc: FeatureRequestError) -> JSONResponse:
        return _error(STATUS.get(exc.kind, 422), str(exc))

    @app.exception_handler(OnlineStoreError)
    def _store_down(_: Request, exc: OnlineStoreError) -> JSONResponse:
        return _error(503, f"online store unavailable: {exc}")

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, Any]:
        if keys and not request.scope.get("state", {}).get("authenticated"):
            return {"status": "ok"}
        return {"status": "ok", "groups": sorted(online.groups)}

    add_flag_routes(app, flags if flags is not None or client is not None
                    else default_evaluator(config, online, exposures))

    def answer(req: FeatureRequest) -> dict[str, Any]:
        t_us = read_time_us(req.at)
        results = online.get_features(req.features, req.entities, at=us_to_datetime(t_us))
        record_served(results)
        return {"read_ts": us_to_datetime(t_us).isoformat(), "results": [r.to_dict() for r in results]}

    @app.post("/features", response_model=FeatureResponse, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/FeatureRequest"}}}}})
    async def features(request: Request) -> Any:
        req = validate_request(parse_body(await request.body()), bounds)
        return json_response(await run_in_threadpool(answer, req))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            defs = FeatureRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {})["FeatureRequest"] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    instrument(app)  # /metrics (behind the API key when keys are set) and per-route latency
    declare_slos(online.groups.values())
    app.add_middleware(BodyLimitMiddleware, max_bytes=bounds.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=keys)  # outermost: checked first
    return app
