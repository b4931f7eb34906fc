"""Runtime changes a product manager makes without a deploy: pause, resume, kill, unkill, rollout percentage.

Every change is an appended, never rewritten, :class:`Change` (who, when, what, why): the log is both the
current state (the last change per field wins) and the audit trail. The declarations in git stay the source of
everything else (variants, weights, salt, targeting). :class:`FileOverrideStore` keeps the log as JSON lines
under the state dir (local, tests); production implements :class:`OverrideStore` on a shared store (e.g. a
DynamoDB table keyed by declaration name and change time). :class:`CachedOverrides` re-reads at most once per
``ttl_s``, so a change reaches every evaluating process within the TTL and the hot path reads memory.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Action = Literal["pause", "resume", "kill", "unkill", "rollout"]
ACTIONS: tuple[Action, ...] = ("pause", "resume", "kill", "unkill", "rollout")


@dataclass(frozen=True)
class Change:
    """One audited runtime change of declaration ``name``."""

    name: str
    action: Action
    who: str
    at: float  # epoch seconds
    rollout: float | None = None  # the new percentage, for action "rollout"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; use one of {', '.join(ACTIONS)}")
        if not self.who or not self.who.strip():
            raise ValueError("a runtime change needs who made it (who=...)")
        if self.action == "rollout" and (self.rollout is None or not 0 <= self.rollout <= 100):
            raise ValueError(f"rollout must be a percentage from 0 to 100, got {self.rollout!r}")


@dataclass(frozen=True)
class State:
    """The runtime state of one declaration: None = as declared in git."""

    paused: bool = False
    killed: bool = False
    rollout: float | None = None


def fold(changes: Iterable[Change]) -> dict[str, State]:
    """Current state per declaration from its changes, in log order."""
    out: dict[str, State] = {}
    for c in changes:
        s = out.get(c.name, State())
        if c.action in ("pause", "resume"):
            s = State(c.action == "pause", s.killed, s.rollout)
        elif c.action in ("kill", "unkill"):
            s = State(s.paused, c.action == "kill", s.rollout)
        else:
            s = State(s.paused, s.killed, c.rollout)
        out[c.name] = s
    return out


class OverrideStore(Protocol):
    def append(self, change: Change) -> None: ...

    def changes(self) -> list[Change]: ...


class FileOverrideStore:
    """The change log as JSON lines; appends hold an exclusive lock so concurrent writers never interleave."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def under(cls, state_dir: str | Path) -> FileOverrideStore:
        return cls(Path(state_dir) / "experiments" / "overrides.jsonl")

    def append(self, change: Change) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(change), separators=(",", ":")) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def changes(self) -> list[Change]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out: list[Change] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(Change(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{self.path}:{number}: bad change record: {exc}; fix or remove the line") from None
        return out


class CachedOverrides:
    """Runtime state read through a ``ttl_s`` cache; :meth:`change` writes through and refreshes at once."""

    def __init__(self, store: OverrideStore, ttl_s: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, State] = {}
        self._read_at: float | None = None

    def state(self, name: str) -> State:
        now = self.clock()
        with self._lock:
            if self._read_at is None or now - self._read_at >= self.ttl_s:
                self._states = fold(self.store.changes())
                self._read_at = now
            return self._states.get(name, State())

    def change(self, name: str, action: Action, who: str, rollout: float | None = None,
               reason: str = "") -> Change:
        """Record a change (audited) and make it visible to this process immediately."""
        c = Change(name, action, who, self.clock(), rollout, reason)
        self.store.append(c)
        with self._lock:
            self._read_at = None
        return c

    def audit(self, name: str | None = None) -> list[dict[str, Any]]:
        """The change log (of ``name``, or all), oldest first."""
        return [asdict(c) for c in self.store.changes() if name is None or c.name == name]
