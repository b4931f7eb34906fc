"""DynamoDB capacity units from item sizes: what a read or a write of an online item costs.

For servers that do not report ``ConsumedCapacity`` (the local ones) and for cost planning. DynamoDB's rules
(Developer Guide, "Item sizes and formats" and "Read/write capacity mode"):

* item size = for each attribute, its name's UTF-8 bytes plus its value: strings their UTF-8 bytes, binary
  its raw bytes, a number 1 byte per two significant digits plus 1, a boolean or null 1 byte, a map or list
  3 bytes plus, per element, 1 byte and the element (a map's keys count as names);
* a write costs 1 write unit per started KB of the item, at least 1; an ``UpdateItem`` is charged for the
  larger of the item before and after (a failed condition is still charged);
* a read costs 1 read unit per started 4 KB of the whole item (a projection does not reduce it), at least one
  4 KB step; eventually consistent reads cost half. ``BatchGetItem`` rounds each item separately.

Values are the Python forms :meth:`weir.online.interface.OnlineStore.get_items` returns (str, bytes, int,
float, bool, None, dicts and lists of those).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
ITEM_OVERHEAD_BYTES = 3  # a map or a list, whatever its contents
ELEMENT_OVERHEAD_BYTES = 1  # each element of a map or list


def number_size(value: int | float | Decimal) -> int:
    """Bytes of a number: 1 per two significant digits (leading and trailing zeros trimmed), plus 1."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"DynamoDB cannot store the number {value!r}")
    digits = Decimal(str(value)).normalize().as_tuple().digits if value else ()
    significant = len(digits)
    return -(-significant // 2) + 1


def value_size(value: Any) -> int:
    """Bytes of one attribute value (without its name)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, int | float | Decimal):
        return number_size(value)
    if isinstance(value, Mapping):
        return ITEM_OVERHEAD_BYTES + sum(ELEMENT_OVERHEAD_BYTES + len(str(k).encode("utf-8")) + value_size(v)
                                         for k, v in value.items())
    if isinstance(value, list | tuple):
        return ITEM_OVERHEAD_BYTES + sum(ELEMENT_OVERHEAD_BYTES + value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size for a {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of an item: every attribute's name plus its value."""
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(size_bytes: int) -> int:
    """Write units of writing an item of ``size_bytes`` (1 per started KB, at least 1)."""
    return max(1, -(-size_bytes // WRITE_UNIT_BYTES))


def update_write_units(before_bytes: int | None, after_bytes: int) -> int:
    """Write units of an ``UpdateItem``: the larger of the item before (None: no item) and after."""
    return write_units(max(before_bytes or 0, after_bytes))


def read_units(size_bytes: int | None, consistent: bool = False) -> float:
    """Read units of reading one item of ``size_bytes`` (None: the key is absent, still one step)."""
    steps = max(1, -(-(size_bytes or 0) // READ_UNIT_BYTES))
    return float(steps) if consistent else steps / 2


def batch_read_units(sizes: Iterable[int | None], consistent: bool = False) -> float:
    """Read units of a ``BatchGetItem`` (each item rounded up separately)."""
    return sum(read_units(s, consistent) for s in sizes)


__all__ = ["batch_read_units", "item_size", "number_size", "read_units", "update_write_units", "value_size",
           "write_units"]
