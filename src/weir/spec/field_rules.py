"""Rules for the values a spec hands to other systems (paths, topics, column names, TTLs, key types).

Each value is checked here, at validate time with ``file:line``, rather than failing later in Spark, Kafka or
DynamoDB (or, worse, being accepted and never matching).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from weir.spec.durations import DAY_US, format_duration_us

if TYPE_CHECKING:
    from weir.spec.models import ColumnType, FeatureGroup

Loc = tuple[str | int, ...]

#: Kafka's own rule for topic names (kafka.common.internals.Topic)
KAFKA_TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
#: a column name Spark, Delta, JSON and DynamoDB all read the same way without quoting
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: characters of a Delta table name or path (``=`` for partition dirs, ``@`` and ``:`` for URIs)
PATH_CHARS_RE = re.compile(r"^[A-Za-z0-9_.\-/:=@+~]{1,1024}$")
URI_RE = re.compile(r"^[a-z][a-z0-9+.-]*://")

MAX_TTL_US = 3650 * DAY_US  # ten years: an item kept longer is a bug, and epoch arithmetic stays far from overflow
MAX_FRESHNESS_SLO_US = 365 * DAY_US
MAX_ALLOWED_LATENESS_US = 365 * DAY_US

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def int_range(ctype: ColumnType) -> tuple[int, int]:
    """The values an integer-like column can hold (int: 32-bit, long and timestamp micros: 64-bit)."""
    from weir.spec.models import ColumnType

    return INT32 if ctype == ColumnType.INT else INT64


def int_fits(value: int, ctype: ColumnType) -> bool:
    """Whether ``value`` fits the column type ``ctype`` (a key out of range could never be found)."""
    lo, hi = int_range(ctype)
    return lo <= value <= hi


def source_path_problem(path: str) -> str | None:
    """Why ``path`` (``source.delta``: a lake table name, an absolute path or a URI) is unsafe, or None."""
    if not PATH_CHARS_RE.match(path):
        return (f"source table {path!r} has characters other than letters, digits and _ . - / : = @ + ~ "
                "(or is longer than 1024); name the table plainly, e.g. transactions or sales/orders")
    rest = URI_RE.sub("", path, count=1)
    segments = rest.strip("/").split("/")
    if any(seg in (".", "..") for seg in segments):
        return f"source table {path!r} contains a '.' or '..' segment; name the table without climbing directories"
    if "" in segments[:-1] or rest.endswith("//"):
        return f"source table {path!r} has an empty segment ('//'); remove the extra '/'"
    return None


def kafka_topic_problem(topic: str) -> str | None:
    if topic in (".", "..") or not KAFKA_TOPIC_RE.match(topic):
        return (f"bad Kafka topic {topic!r}; Kafka allows 1 to 249 letters, digits, '.', '_' and '-' "
                "(and not '.' or '..')")
    return None


def column_name_problem(name: str) -> str | None:
    if not COLUMN_RE.match(name):
        return (f"bad column name {name!r}; use a letter or '_' then letters, digits or '_' (at most 128), "
                "with no spaces, quotes or backticks")
    return None


def field_problems(group: FeatureGroup) -> list[tuple[Loc, str]]:
    """Problems of the values a spec passes to Spark, Kafka and DynamoDB, each with its field path."""
    from weir.spec.models import ColumnType

    problems: list[tuple[Loc, str]] = []
    src = group.source
    if src.delta is not None and (why := source_path_problem(src.delta)):
        problems.append((("source", "delta"), why))
    if src.kafka is not None and (why := kafka_topic_problem(src.kafka.topic)):
        problems.append((("source", "kafka", "topic"), why))
    seen: dict[str, str] = {}
    for name in src.columns:
        if why := column_name_problem(name):
            problems.append((("source", "columns", name), why))
        elif name.lower() in seen:
            problems.append((("source", "columns", name), (
                f"column '{name}' differs from '{seen[name.lower()]}' only in case; Spark cannot tell them "
                "apart, rename one")))
        seen.setdefault(name.lower(), name)
    for i, key in enumerate(group.entity.keys):
        if src.columns.get(key) in (ColumnType.DOUBLE, ColumnType.FLOAT):
            problems.append((("entity", "keys", i), (
                f"key column '{key}' is declared {src.columns[key].value}: floating-point keys do not identify "
                "an entity (-0.0 and 0.0, 0.1+0.2 and 0.3 differ); declare it as long or string")))
    bounds = [(("online", "ttl"), group.online.ttl_us, MAX_TTL_US),
              (("online", "freshness_slo"), group.online.freshness_slo_us, MAX_FRESHNESS_SLO_US),
              (("source", "allowed_lateness"), src.allowed_lateness_us, MAX_ALLOWED_LATENESS_US)]
    for loc, value, most in bounds:
        if value is not None and value > most:
            problems.append((loc, f"{format_duration_us(value)} is too long; use at most {format_duration_us(most)}"))
    return problems
