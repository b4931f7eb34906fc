"""``POST /flags/evaluate``: flags and experiments for one entity from the feature server, so services in any
language get the same assignment as the Python SDK (one online read for every rule; see weir.experiments)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from weir.experiments.evaluate import Evaluator, FeatureReader, UnknownDeclaration
from weir.runtime import RuntimeConfig

Attribute = StrictStr | StrictBool | StrictInt | StrictFloat | None


class FlagRequest(BaseModel):
    """``{"key": "u1", "names": ["instant_payout"], "attributes": {"country": "KE"}}``; no names = all."""

    model_config = ConfigDict(extra="forbid")
    key: StrictStr = Field(min_length=1, max_length=256)
    names: list[StrictStr] | None = Field(default=None, max_length=100)
    attributes: dict[str, Attribute] = Field(default_factory=dict, max_length=50)


def default_evaluator(config: RuntimeConfig, reader: FeatureReader) -> Evaluator | None:
    """The declarations beside the specs (None when there are none); an invalid one stops the server with its
    ``file:line`` error, as an invalid feature spec does. Exposures are not logged from here yet."""
    from weir.experiments.catalog import evaluator_for

    evaluator = evaluator_for(config, reader)
    return evaluator if evaluator.declarations else None


def add_flag_routes(app: FastAPI, evaluator: Evaluator | None) -> None:
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
