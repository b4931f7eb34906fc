"""Deterministic salted bucketing: the same entity gets the same variant in every service and on every run.

The hash is GrowthBook's version 2 (FNV-1a 32 bit, applied twice): ``fnv1a32(str(fnv1a32(salt + key)))``,
mod 10 000, divided by 10 000 -> a bucket in [0, 1) with a resolution of 0.01 %. It is a few integer operations
in pure Python (no process seed, unlike Python's ``hash``), so any language can reproduce it; GrowthBook's SDKs
give the same bucket for the same seed and key, which lets a team check an assignment outside Weir.

Two independent hashes decide one evaluation: ``bucket(salt + ":rollout", key) < rollout`` says whether the
entity is in the rollout, and ``bucket(salt, key)`` picks the variant from the cumulative weights. Raising the
rollout percentage therefore only adds entities (nobody already in is moved out) and never changes the variant of
an entity that was in; changing the salt reshuffles everyone (a new experiment).
"""

from __future__ import annotations

from collections.abc import Sequence

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
RESOLUTION = 10_000


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the UTF-16 code units of ``text`` (as GrowthBook's JavaScript reference does)."""
    h = FNV_OFFSET
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket(salt: str, key: str) -> float:
    """The entity's position in [0, 1) for ``salt`` (GrowthBook hash v2)."""
    return (fnv1a32(str(fnv1a32(salt + key))) % RESOLUTION) / RESOLUTION


def in_rollout(salt: str, key: str, percent: float) -> bool:
    """Whether ``key`` is among the first ``percent`` % of entities (a hash independent of the variant's)."""
    if percent >= 100:
        return True
    return bucket(f"{salt}:rollout", key) < percent / 100


def choose(weights: Sequence[float], position: float) -> int:
    """Index of the variant whose cumulative-weight range holds ``position`` (weights need not sum to 1)."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("variant weights must sum to more than 0")
    edge = 0.0
    for i, w in enumerate(weights):
        edge += w / total
        if position < edge:
            return i
    return len(weights) - 1  # rounding: position just under 1.0


def assign(salt: str, key: str, weights: Sequence[float]) -> int:
    """The variant index of entity ``key``: stable for a fixed salt and weights."""
    return choose(weights, bucket(salt, key))
