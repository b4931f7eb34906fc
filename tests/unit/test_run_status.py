"""The run-status store: a Delta table in the lake that every worker appends to and the Airflow view reads."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from weir.lake.paths import run_status_path
from weir.pipeline.status import read_status, record_step, step_run
from weir.runtime import build_config

SRC = Path(__file__).resolve().parents[2] / "src"


def test_another_worker_sees_the_status_through_the_lake(tmp_path: Path) -> None:
    """Two machines share the lake, not a state directory: what one records, the other reads."""
    lake = tmp_path / "lake"
    worker = build_config(state_dir=tmp_path / "worker", lake_path=str(lake))
    view = build_config(state_dir=tmp_path / "api-server", lake_path=str(lake))
    record_step(worker, "g", "compute", "2026-01-01", "success", {"summary": {"rows": 1}})
    assert read_status(view, "g")["compute"]["summary"] == {"rows": 1}
    assert (lake / "_weir" / "run_status" / "_delta_log").is_dir()
    assert run_status_path(view) == f"{lake}/_weir/run_status"
    assert not (tmp_path / "worker" / "status").exists()


def test_concurrent_workers_lose_no_result(tmp_path: Path) -> None:
    """Steps of several groups finishing at once on separate processes: every result is kept."""
    config = build_config(state_dir=tmp_path, lake_path=str(tmp_path / "lake"))
    code = ("import sys\nfrom weir.pipeline.status import record_step\nfrom weir.runtime import build_config\n"
            f"c = build_config(state_dir={str(tmp_path)!r}, lake_path={str(tmp_path / 'lake')!r})\n"
            "for step in ('compute', 'validate', 'publish'):\n"
            "    record_step(c, sys.argv[1], step, '2026-01-01', 'success', {'summary': {'by': sys.argv[1]}})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, f"g{i}"], env={"PYTHONPATH": str(SRC), "PATH": ""})
             for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    for i in range(4):
        status = read_status(config, f"g{i}")
        assert sorted(status) == ["compute", "publish", "validate"]
        assert all(s["summary"] == {"by": f"g{i}"} for s in status.values())


def test_the_newest_result_of_a_step_wins_and_failures_keep_their_error(tmp_path: Path) -> None:
    config = build_config(state_dir=tmp_path)
    record_step(config, "g", "publish", "2026-01-02", "success", {"summary": {"written": 2}},
                at=datetime(2026, 1, 3, 1, tzinfo=UTC))
    record_step(config, "g", "publish", "2026-01-01", "success", {"summary": {"written": 1}},
                at=datetime(2026, 1, 2, 1, tzinfo=UTC))  # appended later, but older: not the newest result
    with pytest.raises(RuntimeError, match="store down"), step_run(config, "g", "check_freshness", "2026-01-02") as out:
        out.update(sampled=0)
        raise RuntimeError("store down\nmore lines")
    status = read_status(config, "g")
    assert status["publish"]["ds"] == "2026-01-02" and status["publish"]["summary"] == {"written": 2}
    assert status["publish"]["at"] == "2026-01-03T01:00:00+00:00"
    fresh = status["check_freshness"]
    assert fresh["state"] == "failed" and fresh["error"] == "RuntimeError: store down"
    assert fresh["summary"] == {"sampled": 0}
    assert read_status(config, "other") == {}


def test_weir_compute_is_the_command_and_run_a_hidden_alias() -> None:
    from weir.cli import cli

    runner = CliRunner()
    listing = runner.invoke(cli, ["--help"]).output
    assert "compute" in listing and "  run " not in listing
    for name in ("compute", "run"):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "--date" in result.output
