"""The same backfill and publish on a Spark standalone cluster (master + 2 one-core workers) and on local[2], and
the driver's peak memory as the entity count grows.

Run with the local stack up (`weir dev up`, for the publish's DynamoDB):

    .venv/bin/python bench/bench_cluster.py --users 2000 --days 7                        # cluster vs local[2]
    .venv/bin/python bench/bench_cluster.py --users 1000,10000 --days 3 --targets cluster  # driver memory, 10x

Each step is a `weir` CLI run (a driver of its own, as in production), so both times include the driver's
start; the cluster's also include executor launch (a JVM per worker and a Python worker per task) and the
shuffle going through the workers instead of one JVM. Lake on local disk for both, so only the cluster differs.

Memory: the kernel's high-water mark (VmHWM) of each process of the driver's tree (the `weir` Python and the
driver JVM it starts), read from /proc every 0.2 s while the step runs (VmHWM only grows, so the last reading
is the peak up to 0.2 s before the exit). On the cluster the executors are children of the workers, not of the
driver, so they are not counted; on local[2] the executors live in the driver JVM and their Python workers are
its children (reported apart). Prints the figures, the machine's load and the command that reproduces them;
copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.2


@dataclass
class StepRun:
    target: str
    users: int
    step: str
    seconds: float
    root: int  # the ``weir`` CLI's Python process
    hwm_kb: dict[int, tuple[str, int]] = field(default_factory=dict)  # pid -> (command name, VmHWM kB)

    def peak_mb(self, kind: str) -> float:
        """Peak of the driver's Python (``python``, the root), its JVM (``java``: the largest Java process; the
        launcher's short-lived one runs before it) or the rest (``other``: local mode's Python workers, shells)."""
        kb = [(pid, name, hwm) for pid, (name, hwm) in self.hwm_kb.items()]
        if kind == "python":
            return sum(h for pid, _, h in kb if pid == self.root) / 1024
        if kind == "java":
            return max((h for pid, name, h in kb if pid != self.root and name == "java"), default=0) / 1024
        return sum(h for pid, name, h in kb if pid != self.root and name != "java") / 1024


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def _hwm(pid: int) -> tuple[str, int] | None:
    """(command name, VmHWM kB) of ``pid``, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    if "VmHWM" not in fields:
        return None
    return fields["Name"].strip(), int(fields["VmHWM"].split()[0])


def run_sampled(argv: list[str], env: dict[str, str]) -> tuple[float, int, dict[int, tuple[str, int]]]:
    """Run ``argv``; return its wall time, its pid and the last VmHWM of every process of its tree."""
    seen: dict[int, tuple[str, int]] = {}
    began = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read() if proc.stdout else b""))
    reader.start()
    while proc.poll() is None:
        tree, todo = [], [proc.pid]
        children = _children()
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        for pid in tree:
            got = _hwm(pid)
            if got is not None:
                seen[pid] = got
        time.sleep(SAMPLE_S)
    reader.join()
    seconds = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:])} failed (exit {proc.returncode}):\n{b''.join(output).decode()[-3000:]}")
    return seconds, proc.pid, seen


def write_source(lake: Path, users: int, start: date, days: int) -> int:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.demo.generator import generate

    data = generate(seed=7, start=datetime.combine(start, datetime.min.time()), days=days, n_users=users,
                    n_merchants=max(10, users // 20), txns_per_user_per_day=3.0)
    frame = data.transactions.copy()
    frame["event_ts"] = frame["event_ts"].dt.tz_localize(UTC)
    frame["ds"] = frame["event_ts"].dt.date
    write_deltalake(str(lake / "transactions"), pa.Table.from_pandas(frame, preserve_index=False),
                    partition_by=["ds"])
    print(f"source: {len(frame)} transactions of {users} users over {days} days", flush=True)
    return len(frame)


def run_steps(target: str, master: str, lake: Path, users: int, start: date, days: int) -> list[StepRun]:
    env = {**os.environ, "WEIR_SPARK_MASTER": master, "WEIR_LAKE_PATH": str(lake),
           "WEIR_CHECKPOINT_PATH": str(lake.parent / "checkpoints"), "WEIR_SPARK_JARS_PREINSTALLED": "true",
           "WEIR_DYNAMODB_TABLE_PREFIX": f"bench_{uuid.uuid4().hex[:6]}_",
           "WEIR_SPECS_DIR": str(ROOT / "feature_specs"), "PYSPARK_PYTHON": sys.executable}
    end = start + timedelta(days=days - 1)
    steps = {"backfill": ["backfill", "user_spend", "--start", start.isoformat(), "--end", end.isoformat()],
             "publish": ["publish", "user_spend", "--date", end.isoformat(), "--no-progress"]}
    out = []
    for name, args in steps.items():
        seconds, root, hwm = run_sampled([sys.executable, "-c", "from weir.cli import main; main()", *args], env)
        run = StepRun(target, users, name, seconds, root, hwm)
        print(f"{target:9s} {users:>7,} users  {name:8s} {seconds:6.1f}s  driver Python "
              f"{run.peak_mb('python'):5.0f} MB  driver JVM {run.peak_mb('java'):5.0f} MB", flush=True)
        out.append(run)
    return out


def main() -> None:
    from weir.devstack.spark_cluster import start_standalone
    from weir.process import free_port

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", default="2000", help="comma-separated entity counts, e.g. 1000,10000")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--targets", default="local[2],cluster", help="local[2] and/or cluster")
    args = parser.parse_args()
    users = [int(u) for u in args.users.split(",")]
    targets = args.targets.split(",")
    if not set(targets) <= {"local[2]", "cluster"}:
        raise SystemExit(f"--targets: {args.targets!r}; use local[2] and/or cluster")
    start = date(2026, 3, 1)
    load_before = os.getloadavg()
    began = datetime.now(UTC)
    runs: list[StepRun] = []
    with tempfile.TemporaryDirectory(prefix="weir-bench-cluster-") as tmp:
        work = Path(tmp)
        env = {"PYSPARK_PYTHON": sys.executable, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT / "src"))}
        cluster = None
        if "cluster" in targets:
            t0 = time.monotonic()
            cluster = start_standalone(work / "spark", free_port(), free_port(), [free_port(), free_port()],
                                       env=env)
            print(f"cluster start: {time.monotonic() - t0:.1f}s", flush=True)
        try:
            for n in users:
                for target in targets:
                    lake = work / f"{target.replace('[', '').replace(']', '')}-{n}" / "lake"
                    write_source(lake, n, start, args.days)
                    master = cluster.master_url if target == "cluster" and cluster else "local[2]"
                    runs += run_steps(target, master, lake, n, start, args.days)
        finally:
            if cluster is not None:
                cluster.stop()
    load_after = os.getloadavg()
    print(f"\n{began:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average (1/5/15 min) before "
          f"{'/'.join(f'{x:.1f}' for x in load_before)}, after {'/'.join(f'{x:.1f}' for x in load_after)}")
    print("| target | entities | step | seconds | driver Python peak | driver JVM peak | driver total | "
          "other processes of the tree |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        py, jvm, other = r.peak_mb("python"), r.peak_mb("java"), r.peak_mb("other")
        print(f"| {r.target} | {r.users:,} | {r.step} | {r.seconds:.1f} | {py:,.0f} MB | {jvm:,.0f} MB | "
              f"{py + jvm:,.0f} MB | {other:,.0f} MB |")
    if len(users) > 1:
        lo, hi = min(users), max(users)
        for target in targets:
            for step in ("backfill", "publish"):
                a = next(r for r in runs if (r.target, r.users, r.step) == (target, lo, step))
                b = next(r for r in runs if (r.target, r.users, r.step) == (target, hi, step))
                total_a, total_b = (x.peak_mb("python") + x.peak_mb("java") for x in (a, b))
                print(f"{target} {step}: {hi / lo:.0f}x entities -> driver peak {total_a:,.0f} -> {total_b:,.0f} MB "
                      f"({total_b / total_a:.2f}x)")
    print(f"reproduce: .venv/bin/python bench/bench_cluster.py --users {args.users} --days {args.days} "
          f"--targets {args.targets}")


if __name__ == "__main__":
    main()
