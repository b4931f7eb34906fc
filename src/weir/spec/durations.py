"""Duration strings (``30m``, ``1h``, ``7d``, ``2w``) shared by specs and window arithmetic."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS_US: dict[str, int] = {
    "m": 60 * 1_000_000,
    "h": 3600 * 1_000_000,
    "d": 86400 * 1_000_000,
    "w": 7 * 86400 * 1_000_000,
}
_DURATION_RE = re.compile(r"^\s*([1-9][0-9]*)\s*([mhdw])\s*$")

MINUTE_US = _UNITS_US["m"]
HOUR_US = _UNITS_US["h"]
DAY_US = _UNITS_US["d"]
MIN_WINDOW_US = MINUTE_US
MAX_WINDOW_US = 365 * DAY_US
#: no duration in Weir is longer than a century, so epoch-microsecond sums stay far inside 64 bits
MAX_DURATION_US = 36500 * DAY_US


def parse_duration_us(text: str) -> int:
    """``"7d"`` -> microseconds. Raises ValueError with the accepted syntax."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string like '1h' or '7d', got {text!r}")
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(
            f"bad duration {text!r}; write <positive integer><unit> with unit m (minutes), h (hours), "
            "d (days) or w (weeks), e.g. '30m', '1h', '7d'"
        )
    us = int(m.group(1)) * _UNITS_US[m.group(2)] if len(m.group(1)) <= 12 else MAX_DURATION_US + 1
    if us > MAX_DURATION_US:
        raise ValueError(f"duration {text!r} is longer than 100 years (36500d); use a shorter one")
    return us


def parse_duration(text: str) -> timedelta:
    """``"7d"`` -> ``timedelta(days=7)``."""
    return timedelta(microseconds=parse_duration_us(text))


def to_us(td: timedelta) -> int:
    """timedelta -> integer microseconds (exact)."""
    return (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds


def format_duration_us(us: int) -> str:
    """Microseconds -> canonical label using the largest of d, h, m that divides it (``604800000000`` -> ``7d``)."""
    for unit in ("d", "h", "m"):
        size = _UNITS_US[unit]
        if us > 0 and us % size == 0:
            return f"{us // size}{unit}"
    raise ValueError(f"duration {us}us is not a positive whole number of minutes")


def format_duration(td: timedelta) -> str:
    """``timedelta(days=7)`` -> ``"7d"``; ``timedelta(hours=36)`` -> ``"36h"``."""
    return format_duration_us(to_us(td))


def default_hop_us(window_us: int | None) -> int:
    """Default tile size: window <= 12h -> 5m; <= 12d -> 1h; else 1d; lifetime -> 1d."""
    if window_us is None:
        return DAY_US
    if window_us <= 12 * HOUR_US:
        return 5 * MINUTE_US
    if window_us <= 12 * DAY_US:
        return HOUR_US
    return DAY_US
