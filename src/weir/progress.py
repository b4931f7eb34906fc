"""The one progress bar of long CLI work (backfill, publish). Opt-in: libraries stay quiet unless asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: ``update(advance=n)`` or ``update(completed=.., total=.., **fields)``, as rich's ``Progress.update``
Update = Callable[..., None]


@contextmanager
def progress_bar(enabled: bool, description: str, unit: str, total: int | None = None,
                 **fields: Any) -> Iterator[Update | None]:
    """A rich bar ``description [bar] done/total unit elapsed`` while the block runs; None when not ``enabled``
    (callers then pass no callback, so nothing is polled). ``unit`` may use ``{task.fields[...]}`` of ``fields``.
    """
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                  TimeElapsedColumn()) as bar:
        task = bar.add_task(description, total=total, **fields)
        yield lambda **kw: bar.update(task, **kw)
