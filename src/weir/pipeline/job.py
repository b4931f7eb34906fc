"""The spark-submit job CLI: ``weir/jobs/<step>.py --group G --ds D`` runs one step and prints its summary.

The Airflow operator (``weir.airflow.operators.WeirSparkJobOperator``) reads the summary from the job's last
line (``RESULT_PREFIX``) and maps the exit code: a failed validation or a spec error is not retried.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable

from weir.pipeline.status import Summary

#: the line a job prints last, so the Airflow operator can return the summary as the task's XCom
RESULT_PREFIX = "WEIR_RESULT "
#: job exit codes: the operator fails these without retrying (a retry cannot fix them)
EXIT_VALIDATION_FAILED = 3
EXIT_SPEC_ERROR = 2


def job_main(step: Callable[[str, str], Summary], argv: list[str] | None = None, prog: str | None = None) -> int:
    """``weir/jobs/*.py``: parse ``--group G --ds D``, run ``step``, print its summary as the last line.

    Exit codes: 0 ok, 2 spec error, 3 validation failed (neither is retried by Airflow), 1 anything else.

    >>> sys.exit(job_main(weir.pipeline.steps.compute, prog="weir/jobs/compute.py"))
    """
    from weir.spec.errors import SpecError
    from weir.validate.outcome import ValidationFailed

    parser = argparse.ArgumentParser(prog=prog, description=step.__doc__)
    parser.add_argument("--group", "--spec", dest="group", required=True, help="feature group name or spec file")
    parser.add_argument("--ds", "--date", dest="ds", required=True, help="the day (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    try:
        summary = step(args.group, args.ds)
    except ValidationFailed as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return EXIT_VALIDATION_FAILED
    except SpecError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return EXIT_SPEC_ERROR
    except Exception:
        traceback.print_exc()
        return 1
    print(RESULT_PREFIX + json.dumps(summary, default=str), flush=True)
    return 0


__all__ = ["EXIT_SPEC_ERROR", "EXIT_VALIDATION_FAILED", "RESULT_PREFIX", "job_main"]
