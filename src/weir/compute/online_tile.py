"""The online tile form: how a tile row becomes the flat dict the online store keeps, and back.

A tile online is ``hop_us``, ``tile_end_us`` and ``newest_event_ts`` (epoch micros) plus its IR columns
``<feature>__<part>`` as JSON scalars: timestamps as epoch micros, dates as epoch days, the rest as they are
(HLL sketches as bytes). Publish (batch tiles) and the stream job (micro-batch tiles) encode with
:func:`online_tile_fields`; the client decodes finalized values with :func:`decode_value`; the item's blob
around the tiles is ``weir.online.codec``. Importing this module does not import Spark.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL, TIMESTAMP, ir_column, ir_parts
from weir.compute.windows import us_to_datetime
from weir.spec.models import ColumnType, FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import Column

HOP = HOP_COL  # online tile field: the tile's hop (micros)
END = "tile_end_us"  # online tile field: the tile's end (epoch micros)
NEWEST = NEWEST_COL  # online tile field: newest event in the tile (epoch micros)

_EPOCH_DAY = date(1970, 1, 1)


def online_type(ptype: str) -> str:
    """The logical type an IR part of type ``ptype`` has online (timestamps -> long, dates -> int)."""
    return "long" if ptype == TIMESTAMP else "int" if ptype == ColumnType.DATE.value else ptype


def _encoded(name: str, ptype: str) -> Column:
    from pyspark.sql import functions as F

    if ptype == TIMESTAMP:
        return F.unix_micros(F.col(name))
    if ptype == ColumnType.DATE.value:
        return F.unix_date(F.col(name))
    return F.col(name)


def online_tile_fields(group: FeatureGroup, keep: Mapping[str, Column | None] | None = None,
                       hop: Column | None = None, end_us: Column | None = None,
                       newest_us: Column | None = None) -> list[Column]:
    """The online tile's columns from a tile row (``build_tiles``' shape), in one fixed order and type.

    ``hop``, ``end_us`` and ``newest_us`` default to the row's own tile columns. ``keep`` (feature name ->
    condition, None = always) keeps only those features' IR; the others are typed NULLs, so tiles of different
    parts of a union share one shape. Without ``keep`` every feature's IR is kept.
    """
    from pyspark.sql import functions as F

    from weir.compute.spark_agg import spark_type

    fields = [(F.col(HOP_COL) if hop is None else hop).cast("long").alias(HOP),
              (F.unix_micros(F.col(TILE_END_COL)) if end_us is None else end_us).alias(END),
              (F.unix_micros(F.col(NEWEST_COL)) if newest_us is None else newest_us).alias(NEWEST)]
    for f in group.features:
        for p in ir_parts(group, f):
            name = ir_column(f, p.part)
            if keep is None:
                fields.append(_encoded(name, p.type).alias(name))
            elif f.name in keep:
                cond = keep[f.name]
                value = _encoded(name, p.type)
                fields.append((value if cond is None else F.when(cond, value)).alias(name))
            else:
                fields.append(F.lit(None).cast(spark_type(online_type(p.type))).alias(name))
    return fields


def decode_value(kind: str, value: Any) -> Any:
    """A value of logical type ``kind`` back from its online form: epoch micros -> datetime (UTC), epoch days
    -> date; anything else (and a value already decoded) as it is."""
    if kind == ColumnType.TIMESTAMP.value and isinstance(value, int):
        return us_to_datetime(value)
    if kind == ColumnType.DATE.value and isinstance(value, int):
        return _EPOCH_DAY + timedelta(days=value)
    return value
