"""``weir flags|experiments``: validate reports file:line errors, list/describe show the catalog, the runtime
switches are audited with who and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from weir.cli import cli
from weir.runtime import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("WEIR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("WEIR_SPECS_DIR", str(ROOT / "feature_specs"))
    load_config.cache_clear()  # the CLI reads the process-wide config
    yield CliRunner()
    load_config.cache_clear()


def test_validate_list_describe(runner: CliRunner) -> None:
    out = runner.invoke(cli, ["flags", "validate"])
    assert out.exit_code == 0 and "checkout_copy, instant_payout" in out.output
    out = runner.invoke(cli, ["experiments", "validate"])
    assert out.exit_code == 0 and "repayment_reminder" in out.output
    out = runner.invoke(cli, ["experiments", "describe", "repayment_reminder"])
    assert out.exit_code == 0 and '"user_repayment": ["repayments_count_30d"]' in out.output
    assert runner.invoke(cli, ["flags", "list"]).exit_code == 0


def test_validate_reports_file_line_field(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    text = (ROOT / "flags" / "instant_payout.yaml").read_text().replace("late_payments_count_90d", "late_count")
    (bad / "instant_payout.yaml").write_text(text)
    out = runner.invoke(cli, ["flags", "validate", str(bad)])
    assert out.exit_code == 1
    line = text.splitlines().index("targeting: >-") + 1
    assert f"{bad / 'instant_payout.yaml'}:{line}: targeting: group 'user_repayment' serves no feature " \
           "'late_count'" in out.output


def test_switches_are_audited(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(cli, ["flags", "kill", "instant_payout", "--who", "oncall", "--reason", "incident"]
                         ).exit_code == 0
    assert runner.invoke(cli, ["flags", "rollout", "instant_payout", "40", "--who", "pm"]).exit_code == 0
    refused = runner.invoke(cli, ["flags", "rollout", "instant_payout", "140", "--who", "pm"])
    assert refused.exit_code == 1 and "0 to 100" in refused.output
    assert runner.invoke(cli, ["flags", "pause", "instant_paout", "--who", "pm"]).exit_code == 1
    assert runner.invoke(cli, ["flags", "kill", "instant_payout"]).exit_code == 2  # --who is required
    lines = [json.loads(x) for x in runner.invoke(cli, ["flags", "audit"]).output.splitlines()]
    assert [(c["action"], c["who"], c["reason"]) for c in lines] == [("kill", "oncall", "incident"),
                                                                     ("rollout", "pm", "")]
    assert (tmp_path / "state" / "experiments" / "overrides.jsonl").exists()
    listing = runner.invoke(cli, ["flags", "list"]).output
    assert "killed" in listing and "40%" in listing
