"""The freshness floor: a minimal hand-written consumer (kafka-python, no Spark) doing Weir's online work.

It reads the group's topic, parses the same JSON events, coalesces them per entity per poll (one tile per hop
and tile end, the most Weir's micro-batch may coalesce) and applies them to the same DynamoDB-compatible server
the way Weir's stream does: a consistent ``BatchGetItem`` of the entities' stream parts (chunks of 100), the
same merge (``weir.stream.merge.merge_item_tiles``) and codec, and one conditional ``UpdateItem`` per entity
(conditioned on ``item_version``), from a pool of threads. The item layout is Weir's (``weir.online.schema``),
so the SDK (``weir.online.client.OnlineClient``) reads the floor's items like Weir's.

What it leaves out, on purpose: the event log, dead-letter and late tables, metrics, exactly-once bookkeeping
(offsets are committed after the writes: at-least-once). It is what any implementation must at least do to
serve these features online, so ``bench/bench_stream.py`` reports Weir's freshness as a ratio to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from weir.compute.layout import expires_at_s
from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import datetime_to_us, group_hops, tile_end
from weir.online import schema as s
from weir.online.codec import decode_tiles, encode_tiles
from weir.online.keys import entity_pk
from weir.spec.models import FeatureGroup
from weir.stream.merge import GroupLayout, Tile, merge_item_tiles

BATCH_GET_MAX = 100
READ = (s.PK, s.STREAM_TILES, s.STREAM_NEWEST, s.STREAM_RUN, s.NEWEST, s.RUN, s.ITEM_VERSION, s.EXPIRES_AT)


def where_passes(where: str, row: Mapping[str, Any]) -> bool:
    """The spec filters the benchmark's group uses: ``col = 'text'``, ``col > number`` (else ValueError)."""
    col, op, value = where.split(" ", 2)
    v = row.get(col)
    if op == "=" and value.startswith("'") and value.endswith("'"):
        return v is not None and v == value[1:-1]
    if op == ">":
        return v is not None and float(v) > float(value)
    raise ValueError(f"the floor consumer cannot evaluate the filter {where!r}")


def parse_event(raw: bytes, group: FeatureGroup) -> dict[str, Any] | None:
    """One Kafka value -> the event with its event time in epoch micros; None for a record Weir would reject."""
    try:
        row = json.loads(raw)
        ts = datetime.fromisoformat(str(row[group.event_time]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(row, dict) or any(row.get(k) is None for k in group.key_columns):
        return None
    row[group.event_time] = datetime_to_us(ts)
    return row


def coalesce(group: FeatureGroup, rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Tile]]:
    """A poll's events -> per entity pk, one tile per (hop, tile end): what one update of its item carries."""
    et = group.event_time
    hops = group_hops(group)
    cells: dict[str, dict[tuple[int, int], list[Mapping[str, Any]]]] = {}
    for row in rows:
        pk = entity_pk(group, {k: row[k] for k in group.key_columns})
        by_cell = cells.setdefault(pk, {})
        for hop in hops:
            by_cell.setdefault((hop, tile_end(int(row[et]), hop)), []).append(row)
    filtered = [f for f in group.features if f.where]
    out: dict[str, list[Tile]] = {}
    for pk, by_cell in cells.items():
        tiles = []
        for (hop, _), cell in sorted(by_cell.items()):
            passes = {f.name: [where_passes(str(f.where), r) for r in cell] for f in filtered}
            tiles.append({k: v for k, v in py_tile_from_rows(group, cell, hop, passes).items() if v is not None})
        out[pk] = tiles
    return out


@dataclass
class FloorWriter:
    """Weir's read-merge-conditional-write of the stream part, one item per entity, ``workers`` threads."""

    client: Any  # a boto3 DynamoDB client
    table: str
    group: FeatureGroup
    workers: int = 12
    layout: GroupLayout = field(init=False)

    def __post_init__(self) -> None:
        self.layout = GroupLayout(self.group)

    def _read(self, pks: Sequence[str]) -> dict[str, dict[str, Any]]:
        names = {f"#a{i}": a for i, a in enumerate(READ)}
        out: dict[str, dict[str, Any]] = {}
        keys: list[dict[str, Any]] = [{s.PK: {"S": pk}} for pk in pks]
        while keys:
            resp = self.client.batch_get_item(RequestItems={self.table: {
                "Keys": keys, "ConsistentRead": True, "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names}})
            for item in resp.get("Responses", {}).get(self.table, []):
                out[item[s.PK]["S"]] = item
            keys = (resp.get("UnprocessedKeys") or {}).get(self.table, {}).get("Keys", [])
        return out

    def _write(self, pk: str, stored: dict[str, Any] | None, batch: Sequence[Tile], run_us: int) -> bool:
        def num(attr: str) -> int | None:
            return int(stored[attr]["N"]) if stored is not None and attr in stored else None

        old = decode_tiles(stored[s.STREAM_TILES]["B"]) if stored is not None and s.STREAM_TILES in stored else []
        tiles, newest = merge_item_tiles(self.layout, old, batch, num(s.RUN))
        newest_any = max((n for n in (newest, num(s.STREAM_NEWEST), num(s.NEWEST)) if n is not None), default=None)
        version = num(s.ITEM_VERSION)
        run = max(run_us, num(s.STREAM_RUN) or 0)
        values: dict[str, Any] = {":t": {"B": encode_tiles(tiles)}, ":r": {"N": str(run)}, ":s": {"N": "-1"},
                                  ":nv": {"N": str((version or 0) + 1)}}
        sets = [f"{s.STREAM_TILES} = :t", f"{s.STREAM_RUN} = :r", f"{s.STREAM_VERSION} = :s", f"{s.ITEM_VERSION} = :nv"]
        if newest is not None:
            values[":n"] = {"N": str(newest)}
            sets.append(f"{s.STREAM_NEWEST} = :n")
        expiry = None if newest_any is None else expires_at_s(self.group, newest_any)
        if expiry is not None:  # None: a group with lifetime features keeps its items for ever
            values[":x"] = {"N": str(max(expiry, num(s.EXPIRES_AT) or 0))}
            sets.append(f"{s.EXPIRES_AT} = :x")
        cond = f"attribute_not_exists({s.ITEM_VERSION})" if version is None else f"{s.ITEM_VERSION} = :v"
        if version is not None:
            values[":v"] = {"N": str(version)}
        try:
            self.client.update_item(TableName=self.table, Key={s.PK: {"S": pk}},
                                    UpdateExpression="SET " + ", ".join(sets), ConditionExpression=cond,
                                    ExpressionAttributeValues=values)
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def apply(self, tiles_by_pk: Mapping[str, Sequence[Tile]], run_us: int) -> int:
        """Read (chunks of 100, in parallel), merge and write every entity; returns the number of items written."""
        pks = sorted(tiles_by_pk)
        chunks = [pks[i:i + BATCH_GET_MAX] for i in range(0, len(pks), BATCH_GET_MAX)]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="floor") as pool:
            stored: dict[str, dict[str, Any]] = {}
            for part in pool.map(self._read, chunks):
                stored.update(part)

            def one(pk: str) -> None:
                state = stored.get(pk)
                while not self._write(pk, state, tiles_by_pk[pk], run_us):  # another writer: read, merge again
                    state = self._read([pk]).get(pk)

            list(pool.map(one, pks))
        return len(pks)


@dataclass
class FloorConsumer:
    """Poll, parse, coalesce, write, commit, until ``stop`` is set; keeps each event's freshness."""

    bootstrap: str
    topic: str
    group: FeatureGroup
    writer: FloorWriter
    skip_prefix: str = ""  # txn_id prefix of events not timed (warm-up)
    stop: threading.Event = field(default_factory=threading.Event)
    consumed: int = 0
    polls: int = 0
    written: int = 0
    fresh_s: list[float] = field(default_factory=list)  # write done - event time, per timed event
    poll_s: list[float] = field(default_factory=list)  # seconds per non-empty poll (parse to write done)

    def run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap.split(","),
                                 group_id=f"weir-floor-{self.topic}", auto_offset_reset="earliest",
                                 enable_auto_commit=False, max_poll_records=200_000,
                                 fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
        et = self.group.event_time
        try:
            while not self.stop.is_set():
                records = [r for batch in consumer.poll(timeout_ms=100).values() for r in batch]
                if not records:
                    continue
                began = time.perf_counter()
                rows = [row for row in (parse_event(r.value, self.group) for r in records) if row is not None]
                self.written += self.writer.apply(coalesce(self.group, rows), time.time_ns() // 1000)
                done = time.time_ns() // 1000
                self.poll_s.append(time.perf_counter() - began)
                self.fresh_s += [(done - int(r[et])) / 1e6 for r in rows
                                 if not str(r.get("txn_id", "")).startswith(self.skip_prefix or "\0")]
                self.consumed += len(records)
                self.polls += 1
                consumer.commit()
        finally:
            consumer.close()
