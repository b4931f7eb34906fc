"""Weir as a platform team installs it: a wheel, run from an empty directory with a profile, no checkout.

The wheel is built offline from a copy of the sources (``python -m build --wheel --no-isolation``: the build
backend is a pinned dev dependency) and installed with ``pip install --no-deps --target`` (the dependencies
are this venv's); ``PYTHONPATH=<target>`` puts it ahead of the editable install, and every command below
proves it imported Weir from there. A Spark run from the wheel: tests/integration/test_wheel_backfill.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from wheel_install import build_wheel, install_wheel, weir_command, wheel_env

from weir.jobs import JOBS
from weir.process import free_port

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "weir"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel-build"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_wheel(wheel, tmp_path_factory.mktemp("wheel-site"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An empty working directory and a profile: specs (a copy of the shipped ones), state and lake in temp dirs."""
    base = tmp_path_factory.mktemp("deployment")
    paths = {"cwd": base / "empty", "specs": base / "specs", "state": base / "state", "lake": base / "lake",
             "checkpoints": base / "checkpoints", "profile": base / "weir-profile.yaml"}
    paths["cwd"].mkdir()
    shutil.copytree(ROOT / "feature_specs", paths["specs"])
    paths["profile"].write_text(yaml.safe_dump({
        "specs_dir": str(paths["specs"]), "state_dir": str(paths["state"]), "lake_path": str(paths["lake"]),
        "checkpoint_path": str(paths["checkpoints"])}))
    return paths


def _env(installed: Path, deployment: dict[str, Path]) -> dict[str, str]:
    return wheel_env(installed, deployment["profile"])


def _weir(installed: Path, deployment: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(weir_command(installed, *args), capture_output=True, text=True, cwd=deployment["cwd"],
                          env=_env(installed, deployment), timeout=120)


def test_the_wheel_holds_every_package_file_and_the_job_entry_points(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {f"weir/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts}
    assert data <= names, f"missing from the wheel: {sorted(data - names)}"
    assert {"weir/devstack/kafka-pom.xml", "weir/devstack/log4j2.yaml", "weir/py.typed"} <= names
    assert {f"weir/jobs/{job}.py" for job in JOBS} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "weir = weir.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_weir_finds_its_jobs_and_data_in_the_install(installed: Path, deployment: dict[str, Path]
                                                               ) -> None:
    probe = ("import json, weir, weir.jobs, weir.devstack.kafka as k; from weir.runtime import load_config; "
             "c = load_config(); print(json.dumps({'weir': weir.__file__, 'jobs': [str(weir.jobs.job_file(j)) "
             "for j in weir.jobs.JOBS], 'pom': str(k.POM), 'log4j': str(k.LOG4J), 'specs': str(c.specs_dir), "
             "'lake': c.lake_path}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=deployment["cwd"], env=_env(installed, deployment))
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(seen["weir"]).is_relative_to(installed), seen  # the wheel, not the editable checkout
    for job in seen["jobs"]:
        assert Path(job).is_relative_to(installed) and Path(job).is_file(), job
    for data in (seen["pom"], seen["log4j"]):
        assert Path(data).is_relative_to(installed) and Path(data).is_file(), data
    assert seen["specs"] == str(deployment["specs"]) and seen["lake"] == str(deployment["lake"])


def test_validate_and_describe_run_from_an_empty_directory(installed: Path, deployment: dict[str, Path]) -> None:
    validate = _weir(installed, deployment, "validate")
    assert validate.returncode == 0, validate.stderr
    assert f"ok: 3 feature group(s) in {deployment['specs']}" in validate.stdout
    describe = _weir(installed, deployment, "describe", "user_spend")
    assert describe.returncode == 0, describe.stderr
    assert f"spec {deployment['specs'] / 'user_spend.yaml'}" in describe.stdout
    assert str(deployment["lake"] / "features" / "user_spend") in describe.stdout
    assert "txn_count_1h" in describe.stdout
    broken = deployment["specs"] / "broken.yaml"
    broken.write_text("name: broken\n")
    try:
        failed = _weir(installed, deployment, "validate")
    finally:
        broken.unlink()
    assert failed.returncode != 0 and "broken.yaml" in failed.stderr  # the profile's specs dir is the one read
    assert list(deployment["cwd"].iterdir()) == []  # nothing written into the working directory


def test_serve_answers_healthz_from_the_wheel(installed: Path, deployment: dict[str, Path]) -> None:
    port = free_port()
    log = deployment["state"].parent / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(weir_command(installed, "serve", "--port", str(port)),
                                stdout=out, stderr=subprocess.STDOUT, cwd=deployment["cwd"],
                                env=_env(installed, deployment))
    try:
        body = _wait_for_healthz(f"http://127.0.0.1:{port}/healthz", proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert body == {"status": "ok", "groups": ["merchant_risk", "user_repayment", "user_spend"]}


def _wait_for_healthz(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"weir serve exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"weir serve did not answer {url} within {timeout_s}s:\n{log.read_text()[-2000:]}")
