"""The online item's tiles blob: exact round trip, including HLL sketches and awkward floats."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, date, datetime

import pytest

from weir.compute.py_agg import _hll_sketch
from weir.online.codec import decode_tiles, encode_tiles


def test_round_trip_is_exact() -> None:
    sketch = _hll_sketch(["m1", "m2", "m3"])
    tiles = [
        {"hop_us": 3_600_000_000, "tile_end_us": 1_704_067_200_000_000, "newest_event_ts": 1_704_067_199_999_999,
         "txn_count__n": 3, "txn_amount__s": 0.1 + 0.2, "txn_amount__n": 2, "big__s": 2**62 + 1,
         "neg__v": -0.0, "tiny__v": 5e-324, "last_merchant__v": "mérchant|ü", "flag__v": True,
         "distinct_merchants__sk": sketch, "empty__v": None},
        {"hop_us": 86_400_000_000, "tile_end_us": 0, "when__v": datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
         "day__v": date(2024, 2, 29), "nan__s": float("nan"), "inf__s": float("inf")},
    ]
    back = decode_tiles(encode_tiles(tiles))
    assert back[0] == tiles[0]
    assert type(back[0]["distinct_merchants__sk"]) is bytes and back[0]["distinct_merchants__sk"] == sketch
    assert math.copysign(1, back[0]["neg__v"]) == -1
    assert back[0]["txn_amount__s"] == 0.1 + 0.2
    assert back[1]["when__v"] == tiles[1]["when__v"] and back[1]["day__v"] == date(2024, 2, 29)
    assert math.isnan(back[1]["nan__s"]) and back[1]["inf__s"] == float("inf")


def test_naive_datetime_is_utc_and_empty_list() -> None:
    back = decode_tiles(encode_tiles([{"t": datetime(2024, 1, 1, 12)}]))
    assert back == [{"t": datetime(2024, 1, 1, 12, tzinfo=UTC)}]
    assert decode_tiles(encode_tiles([])) == []


def test_blob_is_compressed() -> None:
    tiles = [{"hop_us": 300_000_000, "tile_end_us": i * 300_000_000, "txn_count__n": 1} for i in range(144)]
    blob = encode_tiles(tiles)
    assert len(blob) < len(str(tiles)) / 4


def test_corrupt_or_foreign_blob_is_refused() -> None:
    with pytest.raises(ValueError, match="corrupt"):
        decode_tiles(b"not zlib")
    with pytest.raises(ValueError, match="format version"):
        decode_tiles(zlib.compress(b'{"v": 99, "tiles": []}'))
    with pytest.raises(TypeError, match="cannot store"):
        encode_tiles([{"x": object()}])
