"""Two runs of one group at once (two backfills, a backfill and the daily run): Delta lets both compute, and the
commit of the later one fails with a conflict. Every batch write replaces whole days (``replaceWhere``), so the
loser can simply compute its chunk again on top of the winner's commit; after a bounded number of tries it stops
with a Weir message naming the group, the days and what to do, instead of Delta's raw traceback.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import date
from typing import TypeVar

T = TypeVar("T")

CONFLICT_ATTEMPTS = 5
BACKOFF_S = 2.0  # doubled after each conflict, with jitter so two losers do not collide again in step

log = logging.getLogger("weir.batch")


class ConcurrentRunError(RuntimeError):
    """A chunk kept losing commits to another run of the same group."""

    def __init__(self, group: str, first: date, last: date, attempts: int, cause: BaseException) -> None:
        days = f"{first}" if first == last else f"{first}..{last}"
        super().__init__(
            f"group {group}: days {days}: another run of this group wrote the same Delta tables at the same time "
            f"and won the commit {attempts} times in a row ({conflict_name(cause)}); this run did not finish "
            f"these days. Fix: let the other run finish (one backfill or Airflow run per group at a time), then rerun "
            f"`weir backfill {group} --start {first} --end {last}` (or clear the failed Airflow task)")
        self.group, self.first, self.last, self.attempts = group, first, last, attempts


CONFLICTS = {"ConcurrentWriteException", "MetadataChangedException", "ProtocolChangedException",
             "ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
             "ConcurrentTransactionException", "DeltaConcurrentModificationException"}


def conflict_name(exc: BaseException) -> str | None:
    """``ConcurrentAppendException`` and the like for a Delta commit conflict, else None.

    Delta's Python classes when ``delta.exceptions`` mapped the error, else the JVM class behind a Py4J error.
    """
    if type(exc).__name__ in CONFLICTS and type(exc).__module__.startswith("delta.exceptions"):
        return type(exc).__name__
    java = getattr(exc, "java_exception", None)
    if java is None:
        return None
    try:
        java_name = str(java.getClass().getName())
    except Exception:  # the JVM is gone: not a conflict we can retry
        return None
    package, _, name = java_name.rpartition(".")
    return name if package == "io.delta.exceptions" and name in CONFLICTS else None


def is_write_conflict(exc: BaseException) -> bool:
    """A Delta optimistic-concurrency conflict: another commit landed between this write's read and commit."""
    return conflict_name(exc) is not None


def retry_on_conflict(action: Callable[[], T], group: str, first: date, last: date,
                      attempts: int = CONFLICT_ATTEMPTS, backoff_s: float = BACKOFF_S,
                      on_retry: Callable[[BaseException], None] | None = None) -> T:
    """Run ``action`` (an idempotent write of days first..last); on a Delta conflict wait and run it again."""
    import delta.exceptions  # noqa: F401  (maps Delta's JVM conflicts to its Python classes from now on)

    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if not is_write_conflict(exc):
                raise
            if attempt == attempts:
                raise ConcurrentRunError(group, first, last, attempts, exc) from None
            wait = backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
            log.warning("group %s: days %s..%s: %s from a concurrent run of the group; computing them again "
                        "in %.1fs (try %d of %d)", group, first, last, conflict_name(exc), wait, attempt + 1,
                        attempts)
            if on_retry is not None:
                on_retry(exc)
            time.sleep(wait)
    raise AssertionError("unreachable")
