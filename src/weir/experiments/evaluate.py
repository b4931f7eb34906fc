"""Evaluate flags and experiments for one entity: runtime state, dates, targeting on one online read, rollout,
then the salted hash picks the variant.

Order (first that applies decides; the reasons are OpenFeature's):
1. killed or paused at runtime, or before ``start`` / after ``end`` -> the default variant, ``DISABLED``;
2. targeting rule false -> the default variant, ``DEFAULT``; a failed feature read -> default, ``ERROR``;
3. not in the rollout percentage (runtime value, else the declared one) -> default, ``DEFAULT``;
4. otherwise the variant of ``bucket(salt, key)`` over the weights: ``SPLIT`` (``TARGETING_MATCH`` when a rule
   matched and only one variant has weight); this is an assignment, and it is logged as an exposure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from weir.experiments.exposures import Exposure, ExposureLogger
from weir.experiments.hashing import assign, in_rollout
from weir.experiments.models import Declaration, Experiment, Value
from weir.experiments.overrides import Action, CachedOverrides, Change
from weir.experiments.targeting import evaluate as rule_matches
from weir.experiments.targeting import features_of


class FeatureReader(Protocol):
    """What evaluation needs of :class:`weir.online.client.OnlineClient` (passed in; no import of the engine)."""

    def get_features(self, refs: Sequence[str] | str, entity_keys: Sequence[Any],
                     at: datetime | str | int | float | None = None) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Assignment:
    name: str
    key: str
    variant: str
    value: Value | None
    reason: str  # DISABLED | DEFAULT | SPLIT | TARGETING_MATCH | ERROR
    assigned: bool  # in the experiment/flag population (an exposure was logged)
    detail: str = ""


class UnknownDeclaration(KeyError):
    pass


class Evaluator:
    """Evaluates the declarations; ``reader`` answers targeting rules (needed only if a rule names features)."""

    def __init__(self, declarations: Iterable[Declaration], reader: FeatureReader | None = None,
                 overrides: CachedOverrides | None = None, exposures: ExposureLogger | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.declarations = {d.name: d for d in declarations}
        self.reader = reader
        self.overrides = overrides
        self.exposures = exposures
        self.clock = clock

    def get(self, name: str) -> Declaration:
        try:
            return self.declarations[name]
        except KeyError:
            known = ", ".join(sorted(self.declarations)) or "none"
            raise UnknownDeclaration(f"no flag or experiment named '{name}'; known: {known}") from None

    # --------------------------------------------------------------------------------- runtime changes
    def change(self, name: str, action: Action, who: str, rollout: float | None = None, reason: str = "") -> Change:
        """Pause/resume/kill/unkill/rollout ``name`` at runtime (audited); needs an override store."""
        self.get(name)
        if self.overrides is None:
            raise RuntimeError("no override store configured; pass overrides=CachedOverrides(...)")
        return self.overrides.change(name, action, who, rollout, reason)

    # -------------------------------------------------------------------------------------- evaluation
    def evaluate(self, name: str, key: str, attributes: Mapping[str, Any] | None = None) -> Assignment:
        return self.evaluate_many([name], key, attributes)[name]

    def evaluate_many(self, names: Sequence[str] | None, key: str,
                      attributes: Mapping[str, Any] | None = None) -> dict[str, Assignment]:
        """Assignments of ``names`` (default: all) for entity ``key``, from ONE online read of every feature the
        active declarations' rules need."""
        decls = [self.get(n) for n in (names if names is not None else sorted(self.declarations))]
        now = self.clock()
        out: dict[str, Assignment] = {}
        pending: list[Declaration] = []
        for d in decls:
            off = self._off_reason(d, now)
            if off:
                out[d.name] = self._default(d, key, "DISABLED", off)
            else:
                pending.append(d)
        values, error = self._read(pending, key)
        values.update(attributes or {})
        for d in pending:
            out[d.name] = self._decide(d, key, values, error, now)
        return out

    def _off_reason(self, d: Declaration, now: float) -> str:
        state = self.overrides.state(d.name) if self.overrides is not None else None
        if state is not None and state.killed:
            return "killed"
        if state is not None and state.paused:
            return "paused"
        if d.start is not None and now < d.start.timestamp():
            return f"starts {d.start.isoformat()}"
        if d.end is not None and now >= d.end.timestamp():
            return f"ended {d.end.isoformat()}"
        return ""

    def _read(self, decls: Sequence[Declaration], key: str) -> tuple[dict[str, Any], str]:
        need: dict[tuple[str, str], list[str]] = {}  # (entity key column) -> refs
        for d in decls:
            if d.rule is None:
                continue
            for group, columns in features_of(d.rule).items():
                refs = need.setdefault((d.entity.name, d.entity.key), [])
                refs += [f"{group}:{c}" for c in columns if f"{group}:{c}" not in refs]
        values: dict[str, Any] = {}
        if not need:
            return values, ""
        if self.reader is None:
            return values, "targeting needs features but no feature reader is configured"
        try:
            for (_, key_column), refs in need.items():
                (row,) = self.reader.get_features(refs, [{key_column: key}])
                for group, gf in row.groups.items():
                    values.update({f"{group}.{c}": v for c, v in gf.values.items()})
        except Exception as exc:  # the store is down: serve the default, say why
            return {}, f"feature read failed: {exc}"
        return values, ""

    def _decide(self, d: Declaration, key: str, values: Mapping[str, Any], error: str, now: float) -> Assignment:
        rule = d.rule
        if rule is not None:
            if error and features_of(rule):
                return self._default(d, key, "ERROR", error)
            if not rule_matches(rule, values):
                return self._default(d, key, "DEFAULT", "not targeted")
        state = self.overrides.state(d.name) if self.overrides is not None else None
        rollout = state.rollout if state is not None and state.rollout is not None else d.rollout
        if not in_rollout(d.salt, key, rollout):
            return self._default(d, key, "DEFAULT", f"outside the {rollout:g}% rollout")
        variant = d.variants[assign(d.salt, key, d.weights)]
        live = sum(1 for v in d.variants if v.weight > 0)
        reason = "TARGETING_MATCH" if rule is not None and live == 1 else "SPLIT"
        if self.exposures is not None:
            self.exposures.log(Exposure(d.name, "experiment" if isinstance(d, Experiment) else "flag",
                                        d.entity.name, key, variant.name, d.salt, reason, now))
        return Assignment(d.name, key, variant.name, variant.value, reason, True)

    @staticmethod
    def _default(d: Declaration, key: str, reason: str, detail: str) -> Assignment:
        v = d.default
        return Assignment(d.name, key, v.name, v.value, reason, False, detail)

