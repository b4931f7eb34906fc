"""Where declarations live and how a process builds its evaluator from them.

``experiments/`` and ``flags/`` sit beside the feature specs directory (``<specs_dir>/../experiments``), so a
checkout (or an image that ships ``feature_specs/``) carries all three; runtime overrides are under the state
dir (:class:`~weir.experiments.overrides.FileOverrideStore`).
"""

from __future__ import annotations

from pathlib import Path

from weir.experiments.evaluate import Evaluator, FeatureReader
from weir.experiments.exposures import ExposureLogger
from weir.experiments.loader import load_declarations
from weir.experiments.models import Declaration
from weir.experiments.overrides import CachedOverrides, FileOverrideStore, OverrideStore
from weir.runtime import RuntimeConfig
from weir.spec.loader import load_specs

KINDS = {"flag": "flags", "experiment": "experiments"}


def declarations_dir(config: RuntimeConfig, kind: str) -> Path:
    return Path(config.specs_dir).parent / KINDS[kind]


def load_all(config: RuntimeConfig) -> list[Declaration]:
    """Every flag and experiment (a kind whose directory does not exist has none)."""
    groups = load_specs(config.specs_dir)
    out: list[Declaration] = []
    for kind in KINDS:
        path = declarations_dir(config, kind)
        if path.is_dir():
            out += load_declarations(path, kind, groups)
    names = [d.name for d in out]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(f"a flag and an experiment share the name(s) {', '.join(clash)}; rename one")
    return out


def overrides_for(config: RuntimeConfig, ttl_s: float = 5.0, store: OverrideStore | None = None) -> CachedOverrides:
    """The runtime state through a ``ttl_s`` cache, from ``store`` (default: the file log under the state dir;
    the shared DynamoDB one is ``weir.online.override_store.override_store(config)``, passed in by the server and
    the CLI: this package does not import the online store)."""
    return CachedOverrides(store or FileOverrideStore.under(config.state_dir), ttl_s=ttl_s)


def evaluator_for(config: RuntimeConfig, reader: FeatureReader | None,
                  exposures: ExposureLogger | None = None, overrides: OverrideStore | None = None) -> Evaluator:
    """The evaluator of a process: declarations from git, runtime state from the override log."""
    return Evaluator(load_all(config), reader, overrides_for(config, store=overrides), exposures)
