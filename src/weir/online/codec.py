"""The ``tiles`` attribute of an online item: a zlib-compressed JSON list of tile dicts.

A tile is a flat dict (``hop_us``, ``tile_end_us``, ``newest_event_ts`` and IR columns ``<feature>__<part>``) of
JSON scalars, plus values JSON has no type for, stored as one-key tagged objects so the round trip is exact:
``bytes`` (HLL sketches) -> ``{"$b": base64}``, ``datetime`` -> ``{"$t": epoch micros}`` (returned UTC-aware;
naive input is taken as UTC), ``date`` -> ``{"$d": "YYYY-MM-DD"}``. Floats keep their exact value (``repr``
round trip), NaN and infinities included. The publisher already turns timestamps into epoch micros, so the
tags for datetimes are only a safety net.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FORMAT_VERSION = 1
ZLIB_LEVEL = 6


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = aware - _EPOCH
        return {"$t": (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    raise TypeError(f"cannot store a {type(value).__name__} in an online tile: {value!r}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$b" in obj:
            return base64.b64decode(obj["$b"])
        if "$t" in obj:
            return _EPOCH + timedelta(microseconds=int(obj["$t"]))
        if "$d" in obj:
            return date.fromisoformat(obj["$d"])
    return obj


def encode_tiles(tiles: Sequence[Mapping[str, Any]]) -> bytes:
    """Tiles -> compressed blob (``{"v": 1, "tiles": [...]}``, compact JSON, zlib)."""
    payload = {"v": FORMAT_VERSION, "tiles": [dict(t) for t in tiles]}
    text = json.dumps(payload, default=_default, separators=(",", ":"), allow_nan=True)
    return zlib.compress(text.encode("utf-8"), ZLIB_LEVEL)


def decode_tiles(blob: bytes | bytearray | memoryview) -> list[dict[str, Any]]:
    """Compressed blob -> tiles (the exact values given to :func:`encode_tiles`)."""
    try:
        payload = json.loads(zlib.decompress(bytes(blob)).decode("utf-8"), object_hook=_hook)
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"corrupt online tiles blob: {exc}") from exc
    version = payload.get("v") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(f"online tiles blob has format version {version!r}; this Weir reads {FORMAT_VERSION}")
    tiles: list[dict[str, Any]] = payload["tiles"]
    return tiles


_BYTES_TAG = b'{"$b":'
_OTHER_TAGS = (b'"$t"', b'"$d"')


def decode_tiles_for_read(blob: bytes | bytearray | memoryview, binary_keys: Sequence[str],
                          ) -> list[dict[str, Any]]:
    """:func:`decode_tiles` for the read path: the same tiles, decoded without a Python call per tile.

    The JSON is parsed without an object hook and only the fields in ``binary_keys`` (where bytes can occur:
    HLL sketches) are untagged. If the text holds any other tag, or a bytes tag outside those fields, it is
    decoded by :func:`decode_tiles` instead, so the result is always the exact one.
    """
    try:
        text = zlib.decompress(bytes(blob))
    except zlib.error as exc:
        raise ValueError(f"corrupt online tiles blob: {exc}") from exc
    tagged = text.count(_BYTES_TAG)
    if any(tag in text for tag in _OTHER_TAGS):
        return decode_tiles(blob)
    try:
        payload = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"corrupt online tiles blob: {exc}") from exc
    version = payload.get("v") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(f"online tiles blob has format version {version!r}; this Weir reads {FORMAT_VERSION}")
    tiles: list[dict[str, Any]] = payload["tiles"]
    if tagged:
        b64 = base64.b64decode
        for tile in tiles:
            for key in binary_keys:
                value = tile.get(key)
                if type(value) is dict and len(value) == 1 and "$b" in value:
                    tile[key] = b64(value["$b"])
                    tagged -= 1
        if tagged:  # a bytes tag elsewhere (or text that merely looks like one): take the exact path
            return decode_tiles(blob)
    return tiles
