"""``source.max_future`` and ``source.event_id`` in the spec."""

from __future__ import annotations

import pytest

from weir.spec import parse_spec_text
from weir.spec.durations import HOUR_US, MINUTE_US

SPEC = """
name: g
entity: {{name: user, keys: [user_id]}}
source:
  kafka: {{topic: t}}
  event_time: ts
  columns: {{user_id: string, txn_id: string, ts: timestamp}}
{extra}
features:
  - {{name: n, aggregation: count, windows: [1d]}}
"""


def _group(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_spec_text(SPEC.format(extra=extra), "specs/g.yaml")


def test_max_future_defaults_to_one_hour_and_is_canonical() -> None:
    assert _group().source.max_future == "1h" and _group().source.max_future_us == HOUR_US
    g = _group("  max_future: 90m")
    assert g.source.max_future == "90m" and g.source.max_future_us == 90 * MINUTE_US
    assert _group("  max_future: 120m").source.max_future == "2h"


@pytest.mark.parametrize("bad", ["0m", "soon", "-1h"])
def test_a_bad_max_future_names_file_line_and_field(bad: str) -> None:
    with pytest.raises(Exception) as err:
        _group(f"  max_future: {bad}")
    text = str(err.value)
    assert "specs/g.yaml:8" in text and "source.max_future" in text and "duration" in text


def test_event_id_must_be_a_declared_column() -> None:
    assert _group().source.event_id is None
    assert _group("  event_id: txn_id").source.event_id == "txn_id"
    with pytest.raises(Exception) as err:
        _group("  event_id: txn")
    text = str(err.value)
    assert "specs/g.yaml:8" in text and "source.event_id" in text and "not declared in source.columns" in text
