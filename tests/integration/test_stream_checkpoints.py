"""``prepare_checkpoint`` refuses what it cannot migrate safely, on checkpoint files laid out as Spark writes them.

The migration itself (a committed stateless checkpoint moved aside, the stateful query starting from its offsets)
runs a real stream in ``test_stream_dedup_state.py``; these are the refusals, which a real stream can reach only
by crashing mid-batch (the files are written here the way Spark's offset and commit logs hold them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from weir.stream.checkpoints import LegacyCheckpointError, prepare_checkpoint

pytestmark = pytest.mark.integration

_OFFSETS = '{"weir-test-topic":{"0":%d}}'


def _checkpoint(root: Path, planned: int, committed: int, sources: int = 1) -> Path:
    """A stateless checkpoint: batches ``0..planned`` in the offset log, ``0..committed`` in the commit log."""
    (root / "offsets").mkdir(parents=True)
    (root / "commits").mkdir()
    (root / "metadata").write_text(json.dumps({"id": "5f1c0f7e-0000-4000-8000-000000000001"}) + "\n")
    for b in range(planned + 1):
        meta = json.dumps({"batchWatermarkMs": 0, "batchTimestampMs": 1764633600000 + b, "conf": {}})
        (root / "offsets" / str(b)).write_text("\n".join(["v1", meta, *[_OFFSETS % (10 * (b + 1))] * sources]))
    for b in range(committed + 1):
        (root / "commits" / str(b)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    return root


def test_a_stateless_checkpoint_with_a_batch_planned_but_not_committed_is_not_migrated(spark: Any,
                                                                                        tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "ck", planned=3, committed=2)
    with pytest.raises(LegacyCheckpointError, match=r"batch 3 is planned but not committed.*--available-now"):
        prepare_checkpoint(spark, str(ck))
    assert (ck / "offsets").is_dir() and not list(tmp_path.glob("ck.stateless-*"))  # left as it was


def test_a_committed_stateless_checkpoint_moves_aside_and_names_its_offsets(spark: Any, tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "ck", planned=2, committed=2)
    start = prepare_checkpoint(spark, str(ck))
    assert start == (None, _OFFSETS % 30)
    assert not ck.exists() and len(list(tmp_path.glob("ck.stateless-*"))) == 1


def test_a_checkpoint_of_several_sources_is_refused(spark: Any, tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "ck", planned=1, committed=1, sources=2)
    with pytest.raises(LegacyCheckpointError, match="expected one source's offsets, got 2"):
        prepare_checkpoint(spark, str(ck))


def test_a_stateful_or_new_checkpoint_starts_as_it_is(spark: Any, tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "ck", planned=1, committed=1)
    (ck / "state").mkdir()
    assert prepare_checkpoint(spark, str(ck)) == ("5f1c0f7e-0000-4000-8000-000000000001", None)
    assert prepare_checkpoint(spark, str(tmp_path / "new")) == (None, None)
