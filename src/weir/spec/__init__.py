"""Declarative feature-group specs: YAML -> validated pydantic models (no Spark here)."""

from weir.spec.durations import default_hop_us, format_duration, parse_duration, parse_duration_us
from weir.spec.errors import SpecError, SpecErrors
from weir.spec.loader import find_spec, load_spec, load_specs, parse_spec_text, validate_specs
from weir.spec.models import (
    AGGREGATABLE_TYPES,
    Aggregation,
    Bounds,
    ColumnType,
    Entity,
    ExpectationSpec,
    Feature,
    FeatureGroup,
    KafkaSource,
    Online,
    OutputColumn,
    Source,
)

__all__ = [
    "AGGREGATABLE_TYPES",
    "Aggregation",
    "Bounds",
    "ColumnType",
    "Entity",
    "ExpectationSpec",
    "Feature",
    "FeatureGroup",
    "KafkaSource",
    "Online",
    "OutputColumn",
    "Source",
    "SpecError",
    "SpecErrors",
    "default_hop_us",
    "find_spec",
    "format_duration",
    "load_spec",
    "load_specs",
    "parse_duration",
    "parse_duration_us",
    "parse_spec_text",
    "validate_specs",
]
