"""Shared test set-up: the Weir package from this checkout, quiet logs."""

from __future__ import annotations

import os

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)  # type: ignore[attr-defined]  # the venv (its packages), not realpath
