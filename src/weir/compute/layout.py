"""The group layout: which features are lifetime, which tiles each hop keeps, the days a run looks back, the run
time of a day, feature defaults, TTL expiry and how long an online item is kept. Pure Python; the engines,
publish, stream, training, validation and the online client all take these rules from here.

Times are microseconds since the Unix epoch (UTC), as in :mod:`weir.compute.windows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, Literal, overload

from weir.compute.windows import DAY_US, WindowSpec, datetime_to_us, feature_windows
from weir.spec.checks import lifetime_hop_problems
from weir.spec.models import Aggregation, Feature, FeatureGroup, _loc_str


def lifetime_features(group: FeatureGroup) -> list[Feature]:
    """The features without ``windows:`` (aggregated over all time), in spec order."""
    return [f for f in group.features if not f.windows]


def lifetime_hop(group: FeatureGroup) -> int | None:
    """The one hop of the group's lifetime features (None: it has none).

    They share one snapshot tile per entity, so the spec requires one hop (``weir.spec.checks``'s
    ``lifetime_hop_problems``, reported at ``weir validate``); the same rule guards groups built around it.
    """
    problems = lifetime_hop_problems(group)
    if problems:
        loc, msg = problems[0]
        raise ValueError(f"group '{group.name}': {_loc_str(loc)}: {msg}")
    life = lifetime_features(group)
    return life[0].hop_us_for(None) if life else None


def windowed_features_by_hop(windows: Sequence[WindowSpec]) -> dict[int, list[Feature]]:
    """Hop -> the features with a window on that hop (spec order, each once); lifetime windows are left out."""
    out: dict[int, list[Feature]] = {}
    for w in windows:
        if w.window_us is not None:
            feats = out.setdefault(w.hop_us, [])
            if w.feature not in feats:
                feats.append(w.feature)
    return out


@overload
def longest_window_per_hop(windows: Sequence[WindowSpec], *, lifetime: Literal[False] = False) -> dict[int, int]:
    ...


@overload
def longest_window_per_hop(windows: Sequence[WindowSpec], *, lifetime: Literal[True]) -> dict[int, int | None]:
    ...


def longest_window_per_hop(windows: Sequence[WindowSpec], *, lifetime: bool = False) -> dict[int, Any]:
    """Hop -> its longest window: the tiles of that hop a read at ``t`` can use end after ``t - longest``.

    Without ``lifetime`` only windowed hops are keys (callers holding a lifetime snapshot: publish, stream).
    With ``lifetime``, a hop that also serves a lifetime window maps to None, no bound: a reader that merges
    lifetime features from the tiles themselves (the engine's run-time join, point-in-time reads) needs them all.
    """
    out: dict[int, int | None] = {}
    for w in windows:
        if w.window_us is None:
            if lifetime:
                out[w.hop_us] = None
            continue
        if w.hop_us in out and out[w.hop_us] is None:
            continue
        prev = out.get(w.hop_us)
        out[w.hop_us] = w.window_us if prev is None else max(prev, w.window_us)
    return out


class Lookback(Enum):
    """Why a caller looks back from day ``ds``: the two answers differ on purpose (see :func:`lookback_days`)."""

    READ = "read"          # tile partitions to load for the windows at the run time of ds
    DEPENDS = "depends"    # days whose tiles the feature row of ds is computed from


@overload
def lookback_days(windows: Sequence[WindowSpec], reason: Literal[Lookback.READ]) -> int:
    ...


@overload
def lookback_days(windows: Sequence[WindowSpec], reason: Literal[Lookback.DEPENDS]) -> int | None:
    ...


def lookback_days(windows: Sequence[WindowSpec], reason: Lookback) -> int | None:
    """Whole days before ``ds`` that the run time of ``ds`` (the end of the day) looks back, for ``reason``.

    * ``Lookback.READ`` (the batch engine's run, publish): which ``ds`` partitions to load. The windowed tiles
      only (lifetime features come from the lifetime snapshot): ``ceil((w + h) / 1d)`` over every window ``w``
      of hop ``h``, i.e. the window's days plus one hop of slack. Readers filter the loaded tiles by
      ``tile_end`` afterwards, so a partition too many costs a read, never a value; 0 without windows.
    * ``Lookback.DEPENDS`` (training: is a stored feature row older than a tile it was computed from?): the
      exact days, ``ceil(w / 1d) - 1`` for the longest window (a window of whole days read at midnight covers
      exactly its days, on any hop that divides a day); None when a lifetime feature makes every earlier day
      a dependency.
    """
    spans = [(w.window_us, w.hop_us) for w in windows]
    if reason is Lookback.READ:
        longest = max((span + hop for span, hop in spans if span is not None), default=0)
        return -(-longest // DAY_US)
    if any(span is None for span, _ in spans):
        return None
    return -(-max(span for span, _ in spans if span is not None) // DAY_US) - 1


def parse_ds(ds: str | date) -> date:
    """A run's day given as a date or ``YYYY-MM-DD`` (what the CLI, the jobs and Airflow pass)."""
    if isinstance(ds, date):
        return ds
    try:
        return datetime.strptime(ds, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"'{ds}' is not a date; use YYYY-MM-DD") from None


def run_time(day: date) -> datetime:
    """The run time of ``day``: the end of that day, ``day + 1`` at 00:00 UTC. A day's features, tiles and
    online items are as of then; an event exactly at 00:00 of day D+1 belongs to day D (windows are ``(.., t]``).
    """
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def run_time_us(day: date) -> int:
    """:func:`run_time` in epoch microseconds."""
    return datetime_to_us(run_time(day))


def feature_default(feature: Feature) -> Any:
    """The value served for a feature without one (entity missing or expired, or an empty window).

    The spec's ``default:`` when set; otherwise 0 for ``count`` and ``approx_count_distinct`` (no events is a
    count of zero, the value an empty window of a found entity has), None for every other aggregation.
    """
    if feature.default is not None:
        return feature.default
    if feature.aggregation in (Aggregation.COUNT, Aggregation.APPROX_COUNT_DISTINCT):
        return 0
    return None


def column_defaults(group: FeatureGroup) -> dict[str, Any]:
    """Output column -> :func:`feature_default` of its feature."""
    return {c.name: feature_default(c.feature) for c in group.output_columns()}


def is_expired(group: FeatureGroup, newest_event_us: int | None, t_us: int) -> bool:
    """Whether an entity is past the group's ``online.ttl`` at ``t``: no event, or its newest event is at least
    the TTL old (an age exactly equal to the TTL is expired). Expired entities are served the defaults, online
    and in training sets alike; ``weir.compute.spark_layout.expired`` is the same rule on Spark columns."""
    return newest_event_us is None or newest_event_us + group.online.ttl_us <= t_us


def retention_us(group: FeatureGroup) -> int | None:
    """How long after its newest event an entity's online item must stay stored; None: for ever.

    Serving stops at the TTL (:func:`is_expired`), but the item is also the state a stream update merges into: a
    new event for an entity whose item was deleted would be served without its older events. So an item lives
    while any of its tiles can still fall in a window (its last tile ends by ``newest + hop`` and a read at t
    uses tiles ending after ``t - longest``: ``longest + hop``, never less than the TTL), and for ever when the
    group has lifetime features (their state is in the item, and only the lake could rebuild it).
    """
    if lifetime_features(group):
        return None
    longest = longest_window_per_hop(feature_windows(group))
    return max([group.online.ttl_us, *(span + hop for hop, span in longest.items())])


def is_retired(group: FeatureGroup, newest_event_us: int, t_us: int) -> bool:
    """Whether an entity's item no longer needs to be stored at ``t`` (:func:`retention_us` has passed): the
    publish does not write it and DynamoDB's TTL may delete it."""
    retention = retention_us(group)
    return retention is not None and newest_event_us + retention <= t_us


def expires_at_s(group: FeatureGroup, newest_event_us: int) -> int | None:
    """The item's TTL attribute (epoch seconds, rounded up): the first whole second at which it is retired
    (:func:`retention_us` after the newest event); None for a group whose items are kept for ever."""
    retention = retention_us(group)
    return None if retention is None else -(-(newest_event_us + retention) // 1_000_000)


__all__ = [
    "Lookback",
    "column_defaults",
    "expires_at_s",
    "feature_default",
    "is_expired",
    "is_retired",
    "lifetime_features",
    "lifetime_hop",
    "longest_window_per_hop",
    "lookback_days",
    "parse_ds",
    "retention_us",
    "run_time",
    "run_time_us",
    "windowed_features_by_hop",
]
