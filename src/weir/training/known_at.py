"""When each event of a Delta source became available: the commit time of the file that holds it.

``build(..., availability="known_at")`` counts an event at spine time t only if it was in the lake at t, so a
late event (written hours after its event time) does not leak into rows before it arrived. A row's availability
is the commit time of the Delta version that added its file: ``commitInfo.inCommitTimestamp`` when the table
has in-commit timestamps, else ``commitInfo.timestamp`` (both are in the log itself, so they survive a copy of
the lake; a commit file's modification time does not). A streamed event's file is added by its micro-batch's
commit, a batch-loaded event's by the load's commit.

Compaction (``OPTIMIZE``, ``dataChange=false``) moves rows into new files without knowing which old file each
came from; the new file gets the newest availability of the files that commit removed, so no row counts before
it was in the lake (a row can count later than it was, by the gap between the merged commits; counted in
``CommitTimes.inherited``). Files whose adding commit is no longer in the log (log cleanup after a checkpoint)
fall back to the file's modification time, written just before its commit (``CommitTimes.from_file_time``).
"""

from __future__ import annotations

import json
import posixpath
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from weir.lake.delta_log import LogSnapshot, delta_rs_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: the availability column the builder adds to events (commit time of the event's file, timestamp)
KNOWN_COL = "__weir_known_at"
_COMMIT = re.compile(r"^(\d{20})\.json$")


def _utc(ms: int) -> datetime:
    """Epoch milliseconds as a naive UTC datetime (exact: no float)."""
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


def file_name(path: str) -> str:
    """A data file's name, the key that matches a log ``add`` path to a path Spark reports (Delta names files
    with a UUID, unique within a table)."""
    return posixpath.basename(unquote(path.rstrip("/")))


@dataclass
class CommitTimes:
    """File name -> the time its rows became available, for the live files of one table version."""

    by_file: dict[str, datetime] = field(default_factory=dict)
    inherited: int = 0        # compacted files: the newest availability of the files they replaced
    from_file_time: int = 0   # files whose adding commit left the log: their modification time

    def lineage(self) -> dict[str, int]:
        return {"files": len(self.by_file), "compacted_files": self.inherited, "files_by_write_time":
                self.from_file_time}


def _commits(root: str, version: int) -> Iterator[tuple[int, list[dict[str, Any]], datetime | None]]:
    """The log's JSON commits up to ``version``, oldest first: (version, actions, commit file modification time)."""
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(delta_rs_uri(root).rstrip("/") + "/_delta_log")
    infos = filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True))
    found = sorted((int(m.group(1)), i) for i in infos for m in [_COMMIT.match(i.base_name)] if m)
    for v, info in found:
        if v > version:
            break
        with filesystem.open_input_stream(info.path) as stream:
            text = stream.read().decode("utf-8")
        mtime = info.mtime.astimezone(UTC).replace(tzinfo=None) if info.mtime is not None else None
        yield v, [json.loads(line) for line in text.splitlines() if line.strip()], mtime


def _commit_time(actions: list[dict[str, Any]], mtime: datetime | None) -> datetime | None:
    for a in actions:
        info = a.get("commitInfo")
        if info is not None:
            ms = info.get("inCommitTimestamp", info.get("timestamp"))
            if ms is not None:
                return _utc(int(ms))
    return mtime


def commit_times(snapshot: LogSnapshot) -> CommitTimes:
    """When each live file of ``snapshot`` became available (see the module docstring for compaction)."""
    seen: dict[str, datetime] = {}
    compacted: set[str] = set()
    for _, actions, mtime in _commits(snapshot.path, snapshot.version):
        at = _commit_time(actions, mtime)
        removed = [seen[n] for a in actions if "remove" in a for n in [file_name(a["remove"]["path"])] if n in seen]
        for a in actions:
            add = a.get("add")
            if add is None or at is None:
                continue
            name = file_name(add["path"])
            if add.get("dataChange", True) is False and removed:
                seen[name] = max(removed)
                compacted.add(name)
            else:
                seen[name] = at
    out = CommitTimes()
    for f in snapshot.files:
        name = file_name(f["path"])
        if name in seen:
            out.by_file[name] = seen[name]
            out.inherited += name in compacted
        else:
            out.by_file[name] = _utc(int(f["modification_time"]))
            out.from_file_time += 1
    return out


def with_known_at(spark: SparkSession, rows: DataFrame, times: CommitTimes) -> DataFrame:
    """``rows`` (read from the table ``times`` describes) with ``KNOWN_COL``: when each row's file was committed."""
    from pyspark.sql import functions as F

    lookup = spark.createDataFrame(sorted(times.by_file.items()), "__weir_file string, __weir_at timestamp")
    named = rows.withColumn("__weir_file", F.regexp_extract(F.col("_metadata.file_path"), r"([^/]+)$", 1))
    joined = named.join(F.broadcast(lookup), "__weir_file", "left")
    return joined.withColumn(KNOWN_COL, F.col("__weir_at")).drop("__weir_file", "__weir_at")


#: the horizon column ``known_horizons`` adds to spine rows (timestamp; NULL: every event was in the lake)
HORIZON_COL = "__weir_horizon"
#: at most this many horizon buckets over the spine's time span (each bucket takes its start's horizon)
_MAX_BUCKETS = 20_000
_MIN_BUCKET_US = 5 * 60 * 10**6


@dataclass(frozen=True)
class SourceFile:
    """One live file of the source: when it was committed and the event times it holds (None: no statistics)."""

    committed: datetime
    first_event: datetime | None
    last_event: datetime | None


def source_files(snapshot: LogSnapshot, times: CommitTimes, event_time: str) -> list[SourceFile]:
    """The live files with their commit times and event-time statistics (Delta truncates timestamp statistics to
    milliseconds: the last event may be up to 1 ms later than the statistic)."""
    out = []
    for f in snapshot.files:
        lo, hi = (_naive(f.get(f"{k}.{event_time}")) for k in ("min", "max"))
        out.append(SourceFile(times.by_file[file_name(f["path"])], lo,
                              None if hi is None else hi + timedelta(milliseconds=1)))
    return out


def _naive(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def horizon_at(files: list[SourceFile], floor: datetime | None) -> Callable[[datetime], datetime | None]:
    """``t -> K(t)``: every event with event time before ``K(t)`` was in the lake at t and is in the stored tiles
    (None: every event is). ``K(t)`` is the earliest event of the files committed after t, and never later than
    ``floor`` (the earliest event the stored tiles lack). A file without statistics counts from the beginning.
    ``K`` never decreases with t and changes only at commit times."""
    ordered = sorted(files, key=lambda f: f.committed)
    commits = [f.committed for f in ordered]
    suffix: list[datetime | None] = [None] * (len(ordered) + 1)  # earliest event of ordered[i:]
    suffix[-1] = floor
    for i in range(len(ordered) - 1, -1, -1):
        first = ordered[i].first_event or datetime.min
        nxt = suffix[i + 1]
        suffix[i] = first if nxt is None else min(first, nxt)

    def at(t: datetime) -> datetime | None:
        return suffix[bisect_right(commits, t)]
    return at


def known_horizons(spark: SparkSession, spine: DataFrame, t_col: str, horizon: Callable[[datetime], Any],
                   commits: list[datetime], earliest: datetime, latest: datetime) -> DataFrame:
    """``spine`` with ``HORIZON_COL = horizon(t)``, exactly: the spine's time span is cut into buckets (at most
    ``_MAX_BUCKETS``), each holding its start's horizon and the commits inside it, after which the horizon
    changes; a row takes the value after the last of those commits at or before its t (Spark's ``aggregate``
    over the bucket's few commits), so no Spark job sees more than one small broadcast table."""
    from pyspark.sql import functions as F

    epoch = datetime(1970, 1, 1)
    span = max(int((latest - earliest).total_seconds() * 1e6), 1)
    step = max(_MIN_BUCKET_US, -(-span // _MAX_BUCKETS))
    first = (int((earliest - epoch).total_seconds() * 1e6) // step) * step
    last = int((latest - epoch).total_seconds() * 1e6)
    inside: dict[int, list[datetime]] = {}
    for c in sorted(set(commits)):
        b = (int((c - epoch).total_seconds() * 1e6) // step) * step
        if first <= b <= last:
            inside.setdefault(b, []).append(c)
    rows = [(b, horizon(epoch + timedelta(microseconds=b)), [(c, horizon(c)) for c in inside.get(b, [])])
            for b in range(first, last + 1, step)]
    lookup = spark.createDataFrame(
        rows, "__weir_bucket long, __weir_k0 timestamp, __weir_after array<struct<c: timestamp, k: timestamp>>")
    t = F.col(t_col)
    bucket = F.unix_micros(t) - F.pmod(F.unix_micros(t), F.lit(step))
    k = F.aggregate("__weir_after", F.col("__weir_k0"), lambda acc, x: F.when(x["c"] <= t, x["k"]).otherwise(acc))
    return (spine.withColumn("__weir_bucket", bucket).join(F.broadcast(lookup), "__weir_bucket", "left")
            .withColumn(HORIZON_COL, k).drop("__weir_bucket", "__weir_k0", "__weir_after"))
