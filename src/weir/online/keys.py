"""Entity keys -> the item's partition key ``pk``: key values in spec order joined by ``|``.

Each value is rendered by its declared column type so the publisher (values from Spark) and the reader
(values from a caller) agree: strings as is (``\\`` and ``|`` escaped with a backslash, so composite keys
cannot collide), int/long in decimal, double/float by ``repr``, booleans ``true``/``false``, dates ISO
``YYYY-MM-DD``, timestamps as epoch microseconds. Callers' values are checked against the declared type
(a wrong type is a :class:`FeatureRequestError`, never a silent miss).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from weir.compute.event_rules import MAX_PK_BYTES
from weir.compute.windows import datetime_to_us
from weir.online.errors import FeatureRequestError
from weir.spec.field_rules import int_fits, int_range
from weir.spec.models import ColumnType, FeatureGroup


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _in_range(value: int, ctype: ColumnType, name: str) -> str:
    """A key that no stored row can have would never be found: refuse it (the value is not echoed)."""
    if not int_fits(value, ctype):
        lo, hi = int_range(ctype)
        raise FeatureRequestError(f"key '{name}' is outside the range of {ctype.value} ({lo} to {hi})")
    return str(value)


def render_key_value(value: Any, ctype: ColumnType, name: str = "key") -> str:
    """One key value as text for ``pk``; raises FeatureRequestError when it does not fit ``ctype``."""
    if value is None:
        raise FeatureRequestError(f"key '{name}' is null; give a {ctype.value} value")
    if ctype == ColumnType.STRING:
        if isinstance(value, str):
            if not value:
                raise FeatureRequestError(f"key '{name}' is an empty string")
            return _escape(value)
    elif ctype in (ColumnType.INT, ColumnType.LONG):
        if isinstance(value, int) and not isinstance(value, bool):
            return _in_range(value, ctype, name)
    elif ctype in (ColumnType.DOUBLE, ColumnType.FLOAT):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return repr(float(value))
    elif ctype == ColumnType.BOOLEAN:
        if isinstance(value, bool):
            return "true" if value else "false"
    elif ctype == ColumnType.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
    elif ctype == ColumnType.TIMESTAMP:
        if isinstance(value, datetime):
            return str(datetime_to_us(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return _in_range(value, ctype, name)  # epoch micros (what the publisher renders from Spark)
    raise FeatureRequestError(
        f"key '{name}' must be of type {ctype.value}, got {type(value).__name__} {value!r}")


def coerce_key_text(text: str, ctype: ColumnType, name: str = "key") -> Any:
    """A key typed on a command line -> a value of the declared type (for ``weir get``)."""
    try:
        if ctype in (ColumnType.INT, ColumnType.LONG):
            return int(text)
        if ctype in (ColumnType.DOUBLE, ColumnType.FLOAT):
            return float(text)
        if ctype == ColumnType.BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if ctype == ColumnType.DATE:
            return date.fromisoformat(text)
        if ctype == ColumnType.TIMESTAMP:
            return datetime.fromisoformat(text)
    except ValueError:
        raise FeatureRequestError(f"key '{name}' must be of type {ctype.value}, got {text!r}") from None
    return text


def entity_pk(group: FeatureGroup, entity: Mapping[str, Any] | Any, strict: bool = True) -> str:
    """``pk`` of an entity of ``group``: a dict of key values, or a scalar when the group has one key.

    With ``strict`` a dict must hold exactly the group's keys; otherwise extra keys (of other groups in the
    same request) are ignored.
    """
    keys = group.key_columns
    if isinstance(entity, Mapping):
        missing = [k for k in keys if k not in entity]
        if missing:
            raise FeatureRequestError(
                f"entity {dict(entity)!r} lacks key(s) {', '.join(missing)} of group '{group.name}' "
                f"(its keys: {', '.join(keys)})")
        extra = [k for k in entity if k not in keys]
        if strict and extra:
            raise FeatureRequestError(
                f"entity {dict(entity)!r} has unknown key(s) {', '.join(map(str, extra))} for group "
                f"'{group.name}' (its keys: {', '.join(keys)})")
        values: Sequence[Any] = [entity[k] for k in keys]
    else:
        if len(keys) != 1:
            raise FeatureRequestError(
                f"group '{group.name}' has {len(keys)} keys ({', '.join(keys)}): give each entity as a mapping "
                f"of key to value, not the scalar {entity!r}")
        values = [entity]
    ctypes = group.source.columns
    pk = "|".join(render_key_value(v, ctypes[k], k) for k, v in zip(keys, values, strict=True))
    if len(pk.encode("utf-8")) > MAX_PK_BYTES:
        raise FeatureRequestError(f"entity key of group '{group.name}' is longer than {MAX_PK_BYTES} bytes")
    return pk
