"""Feature flags and experiments on Weir's served features (issue #19): declarations, salted assignment,
targeting on one online read, runtime overrides with an audit log, exposures, statistics and an OpenFeature
provider. See docs/experiments.md.

This package depends on the spec layer only; the online client (for targeting), a Kafka producer (for
exposures) are passed in, so the feature server can use it without an import cycle.
"""

from weir.experiments.evaluate import Assignment, Evaluator, FeatureReader, UnknownDeclaration
from weir.experiments.exposures import Exposure, ExposureLogger, KafkaSink, MemorySink
from weir.experiments.hashing import assign, bucket, fnv1a32, in_rollout
from weir.experiments.loader import load_declarations, parse_declaration, validate_declarations
from weir.experiments.models import Declaration, Experiment, Flag, Metric, Variant
from weir.experiments.overrides import CachedOverrides, Change, FileOverrideStore, OverrideStore, State

__all__ = [
    "Assignment", "CachedOverrides", "Change", "Declaration", "Evaluator", "Experiment", "Exposure",
    "ExposureLogger", "FeatureReader", "FileOverrideStore", "Flag", "KafkaSink", "MemorySink", "Metric",
    "OverrideStore", "State", "UnknownDeclaration", "Variant", "assign", "bucket", "fnv1a32", "in_rollout",
    "load_declarations", "parse_declaration", "validate_declarations",
]
