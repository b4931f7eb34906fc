"""Lazy, quiet access to Great Expectations (its import is slow and chatty; Weir imports it only when validating)."""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Any

# GX's data_context.types.base sets its own logger to INFO on import, so it is quieted again after the import
_QUIET_LOGGERS = ("great_expectations", "great_expectations._docs_decorators",
                  "great_expectations.data_context.types.base", "posthog")


def quiet_gx() -> None:
    """Silence GX's info logging and analytics before it is imported (idempotent)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def gx() -> ModuleType:
    """The ``great_expectations`` module, imported quietly."""
    quiet_gx()
    import great_expectations

    quiet_gx()
    return great_expectations


def quiet_context(context: Any) -> None:
    """No tqdm progress bars from a GX data context (they flood CLI and task logs)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def expectation_classes() -> dict[str, type[Any]]:
    """Every GX expectation class exported by ``great_expectations.expectations``, by class name."""
    quiet_gx()
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import Expectation

    out: dict[str, type[Any]] = {}
    for name in dir(gxe):
        obj = getattr(gxe, name)
        if name.startswith("Expect") and isinstance(obj, type) and issubclass(obj, Expectation):
            out[name] = obj
    return out
