"""Synthetic, seeded consumer-credit demo data: users, merchants, card transactions, loans, repayments.

``generate`` and ``iter_transactions_live`` (:mod:`weir.demo.generator`) are pure Python (numpy/pandas);
``write_demo_tables`` (:mod:`weir.demo.writer`) needs Spark. Importing this package imports none of them
(names resolve on first use), so the CLI can read :class:`weir.demo.pipeline.DemoSettings` cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.lazy import lazy_getattr

if TYPE_CHECKING:
    from weir.demo.generator import (
        LOANS_COLUMNS,
        MERCHANTS_COLUMNS,
        REPAYMENTS_COLUMNS,
        TABLE_COLUMNS,
        TRANSACTIONS_COLUMNS,
        USERS_COLUMNS,
        DemoData,
        generate,
        iter_transactions_live,
    )
    from weir.demo.writer import write_demo_tables

_GENERATOR = ("LOANS_COLUMNS", "MERCHANTS_COLUMNS", "REPAYMENTS_COLUMNS", "TABLE_COLUMNS", "TRANSACTIONS_COLUMNS",
              "USERS_COLUMNS", "DemoData", "generate", "iter_transactions_live")
_LAZY = {**dict.fromkeys(_GENERATOR, "weir.demo.generator"), "write_demo_tables": "weir.demo.writer"}

__all__ = ["LOANS_COLUMNS", "MERCHANTS_COLUMNS", "REPAYMENTS_COLUMNS", "TABLE_COLUMNS", "TRANSACTIONS_COLUMNS",
           "USERS_COLUMNS", "DemoData", "generate", "iter_transactions_live", "write_demo_tables"]

__getattr__ = lazy_getattr(__name__, _LAZY)
