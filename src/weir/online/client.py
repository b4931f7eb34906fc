"""Read features online: ``OnlineClient(config).get_features(["user_spend"], [{"user_id": "u1"}])``.

Values are computed at read time ``at`` (default: now) by merging the stored tiles (:mod:`weir.online.read_plan`,
the arithmetic of ``weir.compute``'s ``py_feature_values``), so windows slide with read time: a ``1d`` count read a
day after the last event is 0 even though nothing was written since.

Per entity and group the result also carries:
* ``found``: an unexpired item exists. An item is treated as missing when its newest event is ``online.ttl`` or
  more before ``at`` (an age equal to the TTL is expired), though it stays stored longer (``expires_at`` is
  ``weir.compute.layout.retention_us`` after that event, so a stream update still finds the older tiles);
* ``event_ts``: the newest event the values are built from;
* ``as_of``: the run time the item was published for, or the streaming micro-batch time when the stream part
  is newer (values are complete up to then; :mod:`weir.online.parts` combines the two parts);
* ``age_s`` = ``at - as_of`` in seconds, and ``stale`` = ``age_s > online.freshness_slo`` (None without an SLO
  or without an item): the age of the *computation*, so an inactive entity served by an on-time pipeline is
  not stale;
* ``source_version``: the Delta version of the tile table the item was published from.

Defaults (missing entity, or a window holding no value): the feature's ``default:`` when the spec sets one;
otherwise ``count`` and ``approx_count_distinct`` are 0 (no events means a count of zero, the same value a
found entity with an empty window gets) and every other aggregation is None.

Reads at an ``at`` before the item's ``as_of`` are best effort (the newest tile may hold later events).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from weir.compute.layout import is_expired
from weir.compute.windows import datetime_to_us, us_to_datetime
from weir.online.errors import FeatureRequestError, OnlineStoreError
from weir.online.interface import NOT_FOUND, OnlineStore
from weir.online.keys import entity_pk
from weir.online.read_plan import ReadPlan, read_view
from weir.online.schema import READ_ATTRIBUTES
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import FeatureGroup


@dataclass
class GroupFeatures:
    """One group's features for one entity."""

    group: str
    values: dict[str, Any]
    found: bool
    event_ts: datetime | None = None
    as_of: datetime | None = None
    age_s: float | None = None
    stale: bool | None = None
    source_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": {k: _json_value(v) for k, v in self.values.items()},
            "found": self.found,
            "event_ts": _json_value(self.event_ts),
            "as_of": _json_value(self.as_of),
            "age_s": self.age_s,
            "stale": self.stale,
            "source_version": self.source_version,
        }


@dataclass
class EntityFeatures:
    """All requested groups' features for one entity (in request order)."""

    entity: Any
    groups: dict[str, GroupFeatures] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        """Flat ``column -> value``; a column name found in two groups is given as ``group:column``."""
        counts: dict[str, int] = {}
        for g in self.groups.values():
            for c in g.values:
                counts[c] = counts.get(c, 0) + 1
        return {(c if counts[c] == 1 else f"{g.group}:{c}"): v
                for g in self.groups.values() for c, v in g.values.items()}

    def to_dict(self) -> dict[str, Any]:
        entity = dict(self.entity) if isinstance(self.entity, Mapping) else self.entity
        return {"entity": _json_value(entity), "groups": {n: g.to_dict() for n, g in self.groups.items()}}


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def parse_at(at: datetime | str | int | float | None) -> int:
    """Read time -> epoch micros: None = now; datetime (naive = UTC); ISO string; epoch seconds number."""
    if at is None:
        return time.time_ns() // 1000
    if isinstance(at, datetime):
        return datetime_to_us(at)
    if isinstance(at, str):
        try:
            return datetime_to_us(datetime.fromisoformat(at.replace("Z", "+00:00")))
        except ValueError:
            raise FeatureRequestError(f"bad read time {at!r}; use ISO 8601, e.g. 2024-01-31T12:00:00Z",
                                      kind="bad_request") from None
    if isinstance(at, int | float) and not isinstance(at, bool):
        return int(at * 1_000_000)
    raise FeatureRequestError(f"bad read time {at!r}", kind="bad_request")


class OnlineClient:
    """Feature reads against the online store; specs from ``specs_dir`` (default: the config's) or ``groups``.

    ``store``: any :class:`~weir.online.interface.OnlineStore` (default: DynamoDB at the config's endpoint; unit
    tests pass :class:`~weir.online.memory.InMemoryOnlineStore`).
    """

    def __init__(self, config: RuntimeConfig | None = None, specs_dir: str | Path | None = None,
                 groups: Sequence[FeatureGroup] | None = None, store: OnlineStore | None = None) -> None:
        from weir.spec.loader import load_specs

        self.config = config or load_config()
        specs = list(groups) if groups is not None else load_specs(specs_dir or self.config.specs_dir)
        self.groups: dict[str, FeatureGroup] = {g.name: g for g in specs}
        self.plans: dict[str, ReadPlan] = {g.name: ReadPlan(g) for g in specs}  # per-group work done once
        if store is None:
            from weir.online.store import DynamoOnlineStore

            store = DynamoOnlineStore(self.config)
        self.store: OnlineStore = store

    # ------------------------------------------------------------------------------------------ requests
    def resolve(self, refs: Sequence[str] | str) -> dict[str, list[str]]:
        """``["g", "g:column"]`` -> {group: [output columns]} (request order; a whole group = all columns)."""
        if isinstance(refs, str):
            refs = [refs]
        if not refs:
            raise FeatureRequestError("no features requested; name a group or group:feature_column",
                                      kind="bad_request")
        out: dict[str, list[str]] = {}
        for ref in refs:
            if not isinstance(ref, str) or not ref.strip():
                raise FeatureRequestError(f"bad feature reference {ref!r}; use 'group' or 'group:feature_column'",
                                          kind="bad_request")
            name, _, column = ref.strip().partition(":")
            group = self.groups.get(name)
            if group is None:
                raise FeatureRequestError(
                    f"unknown feature group '{name}'; known: {', '.join(sorted(self.groups)) or 'none'}",
                    kind="unknown_group")
            columns = group.output_column_names()
            if column and column not in columns:
                raise FeatureRequestError(
                    f"group '{name}' has no feature column '{column}'; its columns: {', '.join(columns)}",
                    kind="unknown_feature")
            chosen = out.setdefault(name, [])
            for c in [column] if column else columns:
                if c not in chosen:
                    chosen.append(c)
        return out

    def get_features(self, refs: Sequence[str] | str, entity_keys: Sequence[Any],
                     at: datetime | str | int | float | None = None) -> list[EntityFeatures]:
        """Features ``refs`` for each entity (dicts of key values, or scalars for single-key groups).

        ``refs``: group names or ``group:column``. ``at``: the read time (datetime, naive = UTC; ISO 8601 string;
        epoch seconds), default now. Returns one :class:`EntityFeatures` per entity, in order.

        >>> (row,) = OnlineClient().get_features(["user_spend"], ["u000001"], at="2026-11-01T00:00:00Z")
        >>> row.values["txn_count_7d"], row.groups["user_spend"].found, row.groups["user_spend"].age_s
        """
        wanted = self.resolve(refs)
        t_us = parse_at(at)
        if isinstance(entity_keys, str | bytes | Mapping):
            raise FeatureRequestError("entity_keys is a list of entities, e.g. [{'user_id': 'u1'}] or ['u1']")
        strict = len(wanted) == 1
        pks = {name: [entity_pk(self.groups[name], e, strict=strict) for e in entity_keys] for name in wanted}
        results = [EntityFeatures(e) for e in entity_keys]
        for name, columns in wanted.items():
            group = self.groups[name]
            try:
                items = self.store.get_items(name, pks[name], READ_ATTRIBUTES)
            except OnlineStoreError as exc:
                if exc.code != NOT_FOUND:
                    raise
                items = {}  # never published: every entity is missing
            for res, pk in zip(results, pks[name], strict=True):
                res.groups[name] = self._group_features(group, columns, items.get(pk), t_us)
        return results

    # -------------------------------------------------------------------------------------------- values
    def _group_features(self, group: FeatureGroup, columns: list[str], item: dict[str, Any] | None,
                        t_us: int) -> GroupFeatures:
        plan = self.plans.get(group.name)
        if plan is None or plan.group is not group:
            plan = self.plans[group.name] = ReadPlan(group)
        view = read_view(plan, item) if item is not None else None
        if view is not None and is_expired(group, view.newest_event_us, t_us):
            view = None  # past the TTL: served as missing, though the item is kept longer (retention_us)
        if view is None:
            return GroupFeatures(group.name, plan.defaults(columns), False)
        values = plan.values(view.tiles, t_us, columns)
        age_s = (t_us - view.as_of_us) / 1e6
        slo = group.online.freshness_slo_us
        return GroupFeatures(
            group.name, values, True, event_ts=us_to_datetime(view.newest_event_us),
            as_of=us_to_datetime(view.as_of_us), age_s=age_s,
            stale=None if slo is None else (t_us - view.as_of_us) > slo, source_version=view.source_version)


__all__ = ["EntityFeatures", "GroupFeatures", "OnlineClient", "parse_at"]
