"""Declarations of flags (``flags/*.yaml``) and experiments (``experiments/*.yaml``) as pydantic models.

Checks that need only the file are here; checks against the feature specs (does ``user_repayment`` exist, does
it serve ``repayments_count_90d``, is it keyed by the same entity) are in :mod:`weir.experiments.loader`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from weir.experiments.targeting import Node, RuleError, parse_rule
from weir.spec.durations import parse_duration_us
from weir.spec.models import name_of

Value = bool | int | float | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class EntityRef(_Strict):
    """The entity that is assigned: its name (as in feature specs) and the key column whose value is hashed."""

    name: str
    key: str


class Variant(_Strict):
    name: Annotated[str, name_of("variant name")]
    weight: float = Field(ge=0)
    value: Value | None = None



class Metric(_Strict):
    """An outcome: ``aggregation`` of ``column`` over the ``source`` Delta table's events in ``window`` after the
    entity's first exposure."""

    name: Annotated[str, name_of("metric name")]
    source: str = Field(min_length=1)
    aggregation: Literal["sum", "count", "mean", "max", "min", "any"]
    column: str | None = None
    window: str
    event_time: str = "event_ts"


    @field_validator("window")
    @classmethod
    def _window(cls, v: Any) -> Any:
        parse_duration_us(v)
        return v

    @model_validator(mode="after")
    def _column(self) -> Metric:
        if self.aggregation not in ("count", "any") and not self.column:
            raise ValueError(f"aggregation '{self.aggregation}' needs a column; add column: <numeric column>")
        return self


def _utc(v: datetime | None) -> datetime | None:
    return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


class Declaration(_Strict):
    """What flags and experiments share: who is assigned, how (salt, weights, rollout), when, and to whom."""

    name: Annotated[str, name_of("declaration name")]
    description: str = ""
    owner: str | None = None
    entity: EntityRef
    salt: str = Field(min_length=1)
    start: datetime | None = None
    end: datetime | None = None
    rollout: float = Field(default=100.0, ge=0, le=100)
    variants: list[Variant] = Field(min_length=1)
    default_variant: str | None = None
    targeting: str | None = None
    _path: str | None = PrivateAttr(default=None)


    @field_validator("targeting")
    @classmethod
    def _targeting(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_rule(v)
            except RuleError as exc:
                raise ValueError(f"{exc}; write e.g. \"user_repayment.repayments_count_90d >= 3 and "
                                 "country == 'KE'\"") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Declaration:
        self.start, self.end = _utc(self.start), _utc(self.end)
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"variants: variant name(s) {', '.join(dup)} appear twice; give each a unique name")
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("variants: the weights sum to 0; give at least one variant a positive weight")
        if self.default_variant is not None and self.default_variant not in names:
            raise ValueError(f"default_variant: '{self.default_variant}' is not a variant; use one of "
                             f"{', '.join(names)}")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end: end must be after start; fix the dates")
        return self

    @property
    def path(self) -> str | None:
        """The file this declaration was loaded from."""
        return self._path

    def with_path(self, path: str | None) -> Declaration:
        self._path = path
        return self

    @cached_property
    def rule(self) -> Node | None:
        """The parsed targeting rule (parsed once per declaration, not per evaluation)."""
        return parse_rule(self.targeting) if self.targeting else None

    @property
    def default(self) -> Variant:
        """Served when the declaration is off, killed, paused, out of dates, or the entity is not targeted:
        ``default_variant``, else the first variant (an experiment's control)."""
        name = self.default_variant or self.variants[0].name
        return next(v for v in self.variants if v.name == name)

    @property
    def weights(self) -> list[float]:
        return [v.weight for v in self.variants]


class Flag(Declaration):
    kind: Literal["flag"] = "flag"
    type: Literal["boolean", "string", "number"]

    @model_validator(mode="after")
    def _values(self) -> Flag:
        want: dict[str, tuple[type, ...]] = {"boolean": (bool,), "string": (str,), "number": (int, float)}
        for v in self.variants:
            ok = isinstance(v.value, want[self.type]) and not (self.type == "number" and isinstance(v.value, bool))
            if not ok:
                raise ValueError(f"variants: variant '{v.name}' has value {v.value!r}, not a {self.type}; give "
                                 f"every variant a {self.type} value")
        return self


def _covariate(c: str) -> str:
    if c.count(".") != 1:
        raise ValueError(f"covariate {c!r} is not group.feature_column; write e.g. "
                         "user_repayment.on_time_ratio_avg_90d")
    return c


class Experiment(Declaration):
    kind: Literal["experiment"] = "experiment"
    variants: list[Variant] = Field(min_length=2)
    metrics: list[Metric] = Field(min_length=1)
    covariates: list[Annotated[str, AfterValidator(_covariate)]] = Field(default_factory=list)



MODELS: dict[str, type[Declaration]] = {"flag": Flag, "experiment": Experiment}
