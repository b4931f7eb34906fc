"""spark-submit entry point: ``weir/jobs/training_set.py --spine PATH --features REFS --out PATH``."""

import sys

from weir.cli import cli

if __name__ == "__main__":
    cli(["training-set", *sys.argv[1:]], prog_name="weir/jobs/training_set.py")
