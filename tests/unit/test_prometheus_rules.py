"""The shipped alert rules, checked and unit-tested by the real ``promtool`` (Debian's prometheus package)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def test_rules_are_valid() -> None:
    out = subprocess.run([_promtool(), "check", "rules", str(RULES / "weir-alerts.yml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_rule_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    out = subprocess.run([_promtool(), "test", "rules", "weir-alerts.test.yml"], cwd=RULES,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_a_unit_test_and_a_runbook_entry() -> None:
    rules = yaml.safe_load((RULES / "weir-alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((RULES / "weir-alerts.test.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])
              if t.get("exp_alerts")}
    assert alerts == tested, f"alerts without a firing unit test: {sorted(alerts - tested)}"
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    headings = {re.sub(r"[^a-z0-9]", "", h.lower()) for h in re.findall(r"^##+ (.+)$", runbook, re.M)}
    missing = {a for a in alerts if a.lower() not in headings}
    assert not missing, f"alerts without a runbook section in docs/runbook.md: {sorted(missing)}"


def test_alerts_only_use_metrics_weir_declares() -> None:
    from weir import metrics

    declared = set(metrics.REGISTRY._names_to_collectors)  # every sample name, _total included
    declared |= {"weir_job_success", "weir_job_last_success_timestamp_seconds", "up"}
    text = (RULES / "weir-alerts.yml").read_text()
    expr_lines = "\n".join(line for line in text.splitlines() if not line.strip().startswith(("#", "summary",
                                                                                                  "description")))
    used = set(re.findall(r"\b(weir_[a-z_]+|up)\b(?=[{\[\s)])", expr_lines))
    used = {re.sub(r"_(bucket|count|sum)$", "", u) for u in used}
    assert used <= declared, f"rules use undeclared metrics: {sorted(used - declared)}"


def test_every_runbook_annotation_points_at_a_runbook_section() -> None:
    rules = yaml.safe_load((RULES / "weir-alerts.yml").read_text())
    text = (ROOT / "docs" / "runbook.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^## (.+)$", text, re.M)}
    for group in rules["groups"]:
        for rule in group["rules"]:
            link = rule["annotations"]["runbook"]
            assert link.startswith("docs/runbook.md#") and link.split("#", 1)[1] in anchors, rule["alert"]
