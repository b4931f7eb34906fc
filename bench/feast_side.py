"""The Feast side of bench/bench_training.py: get_historical_features over Weir's daily feature tables.

Runs with the Python of the bench-only venv (``.bench-venv-feast/``, Feast pinned in
``bench/requirements-feast.txt``); bench_training.py starts it as a child process and reads the ``RESULT`` line.
Stand-alone:

    .bench-venv-feast/bin/python bench/feast_side.py --manifest DATA/feast/manifest.json \
        --spine RUN/spine.parquet --out RUN/feast.parquet --repo RUN/feast_repo

The manifest (written by bench_training.py's prepare step) lists per feature group the parquet export of its
Delta feature table ``features/<group>`` (one row per entity per daily run time ``run_ts`` with the values as of
``run_ts``, the group's TTL rule and defaults already applied), the entity and keys, the online TTL and the
feature columns with their Feast types. Here:

* a Feast repo is defined in ``--repo`` (entities ``user`` and ``merchant``, one FeatureView per group over a
  FileSource with ``timestamp_field="run_ts"``, ``ttl`` = the spec's ``online.ttl``) and applied with
  ``FeatureStore(repo_path).apply(...)``;
* ``get_historical_features(entity_df=<the spine>, features=[every column]).to_df()`` is timed, then the spec
  defaults are filled in for entities without any row yet (Feast has no defaults), also timed;
* peak memory is this process's ``ru_maxrss``; the output is written to ``--out`` (not timed) for the check.

``run_ts`` (not ``newest_event_ts``) is the timestamp field because a row holds the values as of its run time:
with ``newest_event_ts`` Feast could pick a row computed at a run time after the spine time, whose windows have
already slid past it.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytz


def define_repo(repo: Path, manifest: dict[str, Any]) -> tuple[Any, list[Any], list[str]]:
    """Write feature_store.yaml, build the entities and feature views; returns (store, objects, feature refs)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast import types as ft

    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: weir_bench\n"
        f"registry: {repo / 'registry.db'}\n"
        "provider: local\n"
        f"online_store:\n  type: sqlite\n  path: {repo / 'online.db'}\n"
        "offline_store:\n  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    entities: dict[str, Any] = {}
    objects: list[Any] = []
    refs: list[str] = []
    for g in manifest["groups"]:
        if g["entity"] not in entities:
            entities[g["entity"]] = Entity(name=g["entity"], join_keys=g["keys"], value_type=ValueType.STRING)
            objects.append(entities[g["entity"]])
        source = FileSource(name=f"{g['name']}_source", path=g["path"], timestamp_field=g["timestamp_field"])
        schema = [Field(name=k, dtype=ft.String) for k in g["keys"]]
        schema += [Field(name=f["name"], dtype=getattr(ft, f["dtype"])) for f in g["features"]]
        objects.append(FeatureView(name=g["name"], entities=[entities[g["entity"]]], ttl=timedelta(seconds=g["ttl_s"]),
                                   schema=schema, source=source, online=False))
        refs += [f"{g['name']}:{f['name']}" for f in g["features"]]
    return FeatureStore(repo_path=str(repo)), objects, refs


def load_entity_df(path: str) -> tuple[pd.DataFrame, int]:
    """The spine as Feast's entity_df: ``event_timestamp`` in UTC (pytz, as Feast's dask store expects).

    Feast's file store keeps one output row per (join keys, event_timestamp): spine rows sharing a timestamp
    would be collapsed. Rows with an already-seen timestamp get +n nanoseconds (n < rows at that timestamp) so
    every spine row comes back; spine and feature times are whole microseconds and feature rows are daily, so
    no feature row lies in (t, t + n ns] and the row Feast picks is the one it would pick at t.
    """
    spine = pd.read_parquet(path)
    ts = spine.pop("ts").dt.tz_convert(pytz.UTC).astype("datetime64[ns, UTC]")
    offset = spine.groupby(ts).cumcount()
    if int(offset.max()) >= 1000 and (ts != ts.dt.floor("D")).any():
        raise SystemExit("too many spine rows share a timestamp for nanosecond offsets below 1 microsecond")
    spine["event_timestamp"] = ts + pd.to_timedelta(offset, unit="ns")
    return spine, int((offset > 0).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--spine", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--no-ts-offsets", action="store_true", help="pass duplicate timestamps as they are")
    args = parser.parse_args()

    import feast

    manifest = json.loads(Path(args.manifest).read_text())
    t0 = time.perf_counter()
    store, objects, refs = define_repo(Path(args.repo), manifest)
    store.apply(objects)
    apply_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    entity_df, offsets = load_entity_df(args.spine)
    if args.no_ts_offsets:
        entity_df["event_timestamp"] = entity_df["event_timestamp"].dt.floor("us")
        offsets = 0
    load_s = time.perf_counter() - t0
    print(f"feast {feast.__version__}: {len(refs)} features, entity_df {len(entity_df):,} rows", flush=True)

    t0 = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
    hist_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for g in manifest["groups"]:
        for f in g["features"]:
            if f.get("default") is not None:
                df[f["name"]] = df[f["name"]].fillna(f["default"])
    fill_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    df.to_parquet(args.out, index=False)
    result = {"seconds": hist_s + fill_s, "get_historical_features_s": hist_s, "fill_defaults_s": fill_s,
              "apply_s": apply_s, "load_s": load_s, "rows": len(df), "peak_mb": peak_mb, "ts_offsets": offsets,
              "feast_version": feast.__version__}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
