"""Build Weir's wheel offline and install it apart from the editable checkout (tests/unit/test_wheel.py and
tests/integration/test_wheel_backfill.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(work: Path) -> Path:
    """``python -m build --wheel --no-isolation`` over a copy of pyproject.toml, README.md and src/ in ``work``
    (the checkout gets no build/ or egg-info; the pinned dev dependencies are the build backend)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, work / name)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(work)],
                   check=True, capture_output=True, text=True, cwd=work)
    (built,) = dist.glob("weir-*.whl")
    return built


def install_wheel(wheel: Path, target: Path) -> Path:
    """``pip install --no-deps --target``: the dependencies are this venv's, Weir itself only the wheel's."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    return target


def wheel_env(target: Path, profile: Path, **extra: str) -> dict[str, str]:
    """This environment without ``WEIR_*`` settings or source paths: ``PYTHONPATH=<target>`` (ahead of the
    editable install) and the profile configure Weir; ``extra`` adds variables (e.g. a pid-specific port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_") and k != "PYTHONPATH"}
    return {**env, "PYTHONPATH": str(target), "WEIR_PROFILE": str(profile), **extra}


def weir_command(target: Path, *args: str) -> list[str]:
    """The installed ``weir`` console script, run by this interpreter."""
    return [sys.executable, str(target / "bin" / "weir"), *args]
