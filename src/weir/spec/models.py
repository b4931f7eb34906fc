"""Pydantic models of a feature group spec (pure Python; knows nothing of Spark)."""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from weir.spec.durations import (
    DAY_US,
    MAX_WINDOW_US,
    MIN_WINDOW_US,
    default_hop_us,
    format_duration_us,
    parse_duration_us,
)


class ColumnType(StrEnum):
    STRING = "string"
    INT = "int"
    LONG = "long"
    DOUBLE = "double"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"

    @property
    def ddl(self) -> str:
        return {"long": "BIGINT"}.get(self.value, self.value.upper())

    @property
    def is_numeric(self) -> bool:
        return self in NUMERIC_TYPES


NUMERIC_TYPES = frozenset({ColumnType.INT, ColumnType.LONG, ColumnType.DOUBLE, ColumnType.FLOAT})
ORDERED_TYPES = NUMERIC_TYPES | {ColumnType.TIMESTAMP, ColumnType.DATE, ColumnType.STRING}
ALL_TYPES = frozenset(ColumnType)


class Aggregation(StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    APPROX_COUNT_DISTINCT = "approx_count_distinct"
    STDDEV = "stddev"


#: which source column types each aggregation accepts
AGGREGATABLE_TYPES: dict[Aggregation, frozenset[ColumnType]] = {
    Aggregation.COUNT: ALL_TYPES,
    Aggregation.SUM: NUMERIC_TYPES,
    Aggregation.AVG: NUMERIC_TYPES,
    Aggregation.STDDEV: NUMERIC_TYPES,
    Aggregation.MIN: ORDERED_TYPES,
    Aggregation.MAX: ORDERED_TYPES,
    Aggregation.FIRST: ALL_TYPES,
    Aggregation.LAST: ALL_TYPES,
    Aggregation.APPROX_COUNT_DISTINCT: ALL_TYPES,
}

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_COLUMNS = frozenset({"newest_event_ts", "tile_end", "hop_us", "t", "event_ts_us"})
SCHEDULE_PRESETS = frozenset({"@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@continuous"})


def _one_of(enum: type[StrEnum]) -> str:
    return ", ".join(m.value for m in enum)


def _enum_value(enum: type[StrEnum], what: str, v: Any) -> Any:
    if isinstance(v, str) and v.strip().lower() in {m.value for m in enum}:
        return v.strip().lower()
    raise ValueError(f"unknown {what} {v!r}; use one of: {_one_of(enum)}")


def check_name(v: str, what: str) -> str:
    """The one naming rule of specs and declarations: lower_snake_case without ``__`` (Weir joins names with it)."""
    if not NAME_RE.match(v) or "__" in v:
        raise ValueError(
            f"bad {what} {v!r}; use lower_snake_case: a letter then letters, digits or single underscores"
        )
    return v


def name_of(what: str) -> AfterValidator:
    """:func:`check_name` as a field validator: ``name: Annotated[str, name_of("feature name")]``."""
    return AfterValidator(lambda v: check_name(v, what))


def _canonical_duration(v: Any) -> str:
    return format_duration_us(parse_duration_us(v))


_ColumnTypeIn = Annotated[ColumnType, BeforeValidator(lambda v: _enum_value(ColumnType, "column type", v))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Entity(_Strict):
    name: Annotated[str, name_of("entity name")]
    keys: list[str] = Field(min_length=1)



class KafkaSource(_Strict):
    topic: str = Field(min_length=1)
    format: str = "json"

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v != "json":
            raise ValueError(f"unsupported kafka format {v!r}; use: json")
        return v


class Source(_Strict):
    delta: str | None = None
    kafka: KafkaSource | None = None
    event_time: str
    columns: dict[str, _ColumnTypeIn] = Field(min_length=1)
    allowed_lateness: str | None = None
    # events whose time is beyond processing time + max_future are rejected (a producer's clock bug must not
    # move the stream's high-water mark); 1h like Kafka's log.message.timestamp.after.max.ms (KIP-937)
    max_future: str = "1h"
    # a column naming each event uniquely: copies (retries, redeliveries) are counted once
    event_id: str | None = None

    @field_validator("allowed_lateness", "max_future", mode="before")
    @classmethod
    def _lateness(cls, v: Any) -> Any:
        return None if v is None else _canonical_duration(v)

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, v: str | None, info: Any) -> str | None:
        columns = info.data.get("columns")
        if v is not None and columns is not None and v not in columns:
            raise ValueError(f"event_id column '{v}' is not declared in source.columns ({', '.join(columns)}); "
                             f"declare it there or fix the name")
        return v

    @model_validator(mode="after")
    def _has_source(self) -> Source:
        if self.delta is None and self.kafka is None:
            raise ValueError("declare at least one of `delta:` (table name) or `kafka:` ({topic: ...})")
        return self

    @property
    def allowed_lateness_us(self) -> int | None:
        return None if self.allowed_lateness is None else parse_duration_us(self.allowed_lateness)

    @property
    def max_future_us(self) -> int:
        return parse_duration_us(self.max_future)


class Bounds(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _order(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"bounds.min ({self.min}) is greater than bounds.max ({self.max}); swap them")
        return self


class Feature(_Strict):
    name: Annotated[str, name_of("feature name")]
    aggregation: Aggregation
    column: str | None = None
    windows: list[str] = Field(default_factory=list)
    where: str | None = None
    hop: str | None = None
    default: bool | int | float | str | None = None
    bounds: Bounds | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)


    @field_validator("aggregation", mode="before")
    @classmethod
    def _agg(cls, v: Any) -> Any:
        return _enum_value(Aggregation, "aggregation", v)

    @field_validator("windows", mode="before")
    @classmethod
    def _windows(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            return v
        out: list[str] = []
        for w in v:
            us = parse_duration_us(w)
            if not MIN_WINDOW_US <= us <= MAX_WINDOW_US:
                raise ValueError(f"window {w!r} is out of range; windows go from 1m to 365d")
            label = format_duration_us(us)
            if label in out:
                raise ValueError(f"window {w!r} is listed twice (as {label}); remove the duplicate")
            out.append(label)
        return sorted(out, key=parse_duration_us)

    @field_validator("hop", mode="before")
    @classmethod
    def _hop(cls, v: Any) -> Any:
        if v is None:
            return None
        us = parse_duration_us(v)
        if DAY_US % us != 0:
            raise ValueError(f"hop {v!r} must divide 1 day evenly (e.g. 1m, 5m, 15m, 1h, 6h, 1d)")
        return format_duration_us(us)

    @property
    def window_us(self) -> list[int | None]:
        """Window lengths in microseconds; ``[None]`` for a lifetime feature."""
        return [parse_duration_us(w) for w in self.windows] if self.windows else [None]

    def hop_us_for(self, window_us: int | None) -> int:
        """Tile size used for ``window_us`` (feature override or default)."""
        return parse_duration_us(self.hop) if self.hop else default_hop_us(window_us)

    def output_column(self, window: str | None) -> str:
        agg = self.aggregation.value
        base = self.name if self.name.endswith(f"_{agg}") else f"{self.name}_{agg}"
        return base if window is None else f"{base}_{window}"


class Online(_Strict):
    ttl: str = "7d"
    freshness_slo: str | None = None
    enabled: bool = True

    @field_validator("ttl", "freshness_slo", mode="before")
    @classmethod
    def _dur(cls, v: Any) -> Any:
        return None if v is None else _canonical_duration(v)

    @property
    def ttl_us(self) -> int:
        return parse_duration_us(self.ttl)

    @property
    def freshness_slo_us(self) -> int | None:
        return None if self.freshness_slo is None else parse_duration_us(self.freshness_slo)


class ExpectationSpec(_Strict):
    expectation: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("expectation")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^Expect[A-Za-z0-9]+$", v):
            raise ValueError(
                f"bad expectation {v!r}; use a Great Expectations class name such as ExpectColumnValuesToNotBeNull"
            )
        return v


class OutputColumn(NamedTuple):
    name: str
    feature: Feature
    window: str | None


class FeatureGroup(_Strict):
    name: Annotated[str, name_of("feature group name")]
    description: str = ""
    owner: str | None = None
    entity: Entity
    source: Source
    features: list[Feature] = Field(min_length=1)
    online: Online = Field(default_factory=Online)
    schedule: str | None = "@daily"
    expectations: list[ExpectationSpec] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    retries: int = Field(default=2, ge=0, le=20)
    version: int = Field(default=1, ge=1)

    _path: str | None = PrivateAttr(default=None)


    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        if v is None or v in SCHEDULE_PRESETS or len(v.split()) == 5:
            return v
        raise ValueError(
            f"bad schedule {v!r}; use a preset ({', '.join(sorted(SCHEDULE_PRESETS))}), a 5-field cron "
            "expression like '0 2 * * *', or null"
        )

    @model_validator(mode="after")
    def _semantics(self, info: Any) -> FeatureGroup:
        ctx = getattr(info, "context", None) or {}
        if not ctx.get("defer_semantic_checks"):
            from weir.spec.checks import semantic_problems

            problems = semantic_problems(self)
            if problems:
                loc, msg = problems[0]
                raise ValueError(f"{_loc_str(loc)}: {msg}")
        return self

    # ---- convenience -------------------------------------------------------------------------
    @property
    def path(self) -> str | None:
        """File the spec was loaded from (not part of the hash)."""
        return self._path

    @property
    def key_columns(self) -> list[str]:
        return list(self.entity.keys)

    @property
    def event_time(self) -> str:
        return self.source.event_time

    @property
    def max_window(self) -> str | None:
        """Largest window over all features; None if any feature is lifetime."""
        us: list[int | None] = [w for f in self.features for w in f.window_us]
        if any(w is None for w in us):
            return None
        return format_duration_us(max(w for w in us if w is not None))

    @property
    def max_window_us(self) -> int | None:
        return None if self.max_window is None else parse_duration_us(self.max_window)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"feature group {self.name!r} has no feature {name!r}")

    def output_columns(self) -> list[OutputColumn]:
        """(column_name, feature, window label or None) for every feature x window, in spec order."""
        return [
            OutputColumn(f.output_column(w), f, w)
            for f in self.features
            for w in _labels(f)
        ]

    def output_column_names(self) -> list[str]:
        return [c.name for c in self.output_columns()]

    def source_schema_ddl(self) -> str:
        """``"user_id STRING, amount DOUBLE, event_ts TIMESTAMP"`` (declaration order)."""
        return ", ".join(f"{c} {t.ddl}" for c, t in self.source.columns.items())

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the model (independent of file path, key order, comments)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def with_path(self, path: str | None) -> FeatureGroup:
        self._path = path
        return self


def _labels(f: Feature) -> list[str | None]:
    return list(f.windows) if f.windows else [None]


def _loc_str(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
