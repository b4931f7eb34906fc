"""``POST /flags/evaluate``: flags and experiments for one entity from the feature server, so services in any
language get the same assignment as the Python SDK (one online read for every rule; see weir.experiments)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from weir.experiments.evaluate import Evaluator, FeatureReader, UnknownDeclaration
from weir.experiments.exposures import ExposureLogger
from weir.runtime import RuntimeConfig

Attribute = StrictStr | StrictBool | StrictInt | StrictFloat | None


class FlagRequest(BaseModel):
    """``{"key": "u1", "names": ["instant_payout"], "attributes": {"country": "KE"}}``; no names = all."""

    model_config = ConfigDict(extra="forbid")
    key: StrictStr = Field(min_length=1, max_length=256)
    names: list[StrictStr] | None = Field(default=None, max_length=100)
    attributes: dict[str, Attribute] = Field(default_factory=dict, max_length=50)


def default_evaluator(config: RuntimeConfig, reader: FeatureReader,
                      exposures: ExposureLogger | None = None) -> Evaluator | None:
    """The declarations beside the specs (None when there are none); an invalid one stops the server with its
    ``file:line`` error, as an invalid feature spec does. Each assignment is logged to ``exposures`` (``weir
    serve`` passes a Kafka one, :func:`weir.stream.exposure_logging.kafka_exposure_logger`)."""
    from weir.experiments.catalog import evaluator_for
    from weir.online.override_store import override_store

    evaluator = evaluator_for(config, reader, exposures, override_store(config))
    return evaluator if evaluator.declarations else None


def add_flag_routes(app: FastAPI, evaluator: Evaluator | None) -> None:
    """``POST /flags/evaluate``; the evaluator's exposure logger is drained and stopped when the app shuts down
    (queued exposures reach the sink)."""
    if evaluator is not None and evaluator.exposures is not None:
        app.router.on_shutdown.append(evaluator.exposures.close)

    @app.post("/flags/evaluate")
    async def evaluate_flags(request: Request) -> dict[str, Any]:
        from weir.online.server import BadRequest, _validation_message, parse_body

        try:
            req = FlagRequest.model_validate(parse_body(await request.body()))
        except ValidationError as exc:
            raise BadRequest(_validation_message(exc)) from None
        if evaluator is None:
            raise BadRequest("no flags or experiments are declared (flags/, experiments/ beside the specs)", 404)
        try:
            out = await run_in_threadpool(evaluator.evaluate_many, req.names, req.key, req.attributes)
        except UnknownDeclaration as exc:
            raise BadRequest(str(exc.args[0]), 404) from None
        return {"key": req.key, "assignments": {name: asdict(a) for name, a in out.items()}}
