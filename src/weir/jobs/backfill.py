"""spark-submit entry point: ``spark-submit weir/jobs/backfill.py --spec GROUP_OR_FILE --start D --end D``."""

from weir.cli import cli

if __name__ == "__main__":
    import sys

    cli(["backfill", *[a for a in sys.argv[1:] if a != "--spec"]], prog_name="weir/jobs/backfill.py")
