"""Values built once per Python process and key: what a Spark executor's Python worker keeps between tasks.

Spark reuses a Python worker for many tasks (``spark.python.worker.reuse``), so a DynamoDB client or a group's
merge layout is built on the worker's first task and reused by the next ones instead of once per task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class PerProcess(Generic[V]):
    """``get(key, build)``: the value for ``key`` in this process, built by ``build()`` on first use."""

    def __init__(self) -> None:
        self._values: dict[str, V] = {}
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], V]) -> V:
        with self._lock:
            value = self._values.get(key)
            if value is None:
                value = self._values[key] = build()
            return value


__all__ = ["PerProcess"]
