"""Batch steps export their outcome for Prometheus: a textfile node_exporter's collector reads (weir.metrics)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from weir.metrics import textfile_dir
from weir.pipeline.status import step_run
from weir.runtime import build_config


def _value(text: str, name: str) -> float:
    match = re.search(rf'^{name}{{group="g",step="publish"}} (\S+)$', text, re.M)
    assert match, (name, text)
    return float(match.group(1))


def test_a_step_exports_success_figures_and_keeps_the_last_success_across_a_failure(tmp_path: Path) -> None:
    config = build_config(state_dir=str(tmp_path), lake_path=str(tmp_path / "lake"))
    with step_run(config, "g", "publish", "2026-01-01") as summary:
        summary["items_written"] = 7
        summary["label"] = "not a number"  # only numbers become gauges
    path = textfile_dir(config) / "weir_publish_g.prom"
    first = path.read_text()
    assert _value(first, "weir_job_success") == 1
    assert _value(first, "weir_job_items_written") == 7
    assert "label" not in first
    succeeded_at = _value(first, "weir_job_last_success_timestamp_seconds")
    assert succeeded_at == _value(first, "weir_job_finished_timestamp_seconds")

    with pytest.raises(RuntimeError, match="boom"), step_run(config, "g", "publish", "2026-01-02"):
        raise RuntimeError("boom")
    failed = path.read_text()
    assert _value(failed, "weir_job_success") == 0
    assert _value(failed, "weir_job_last_success_timestamp_seconds") == succeeded_at  # the alert's clock
    assert _value(failed, "weir_job_finished_timestamp_seconds") >= succeeded_at

    promtool = shutil.which("promtool")
    if promtool:  # the exposition format as Prometheus parses it
        out = subprocess.run([promtool, "check", "metrics"], input=failed, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
