"""The job entry points, shipped inside the package: ``spark-submit <job_file("compute")> --group G --ds D``.

spark-submit and the stream supervisor need a ``.py`` file path, not a module name; :func:`job_file` finds the
file through the installed package (``importlib.resources``), so it works the same from a checkout and from an
installed wheel, with no ``jobs/`` directory or project root involved.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

JOBS = ("analyse_experiment", "backfill", "compute", "exposures", "maintain", "publish", "stream", "training_set",
        "validate")


def job_file(job: str) -> Path:
    """The file of job ``job`` (one of :data:`JOBS`) inside the installed package."""
    if job not in JOBS:
        raise ValueError(f"unknown Weir job {job!r}; one of: {', '.join(JOBS)}")
    path = Path(str(files(__name__) / f"{job}.py"))
    if not path.is_file():  # e.g. a zipped install: spark-submit cannot run a file inside a zip
        raise FileNotFoundError(f"{path}: Weir's job files are missing; install Weir as a plain directory "
                                "(pip install weir-*.whl), not zipped")
    return path
