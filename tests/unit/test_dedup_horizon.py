"""The stream's dedup horizon (``weir.stream.dedup.dedup_horizon_us``): the event day, the allowed lateness, the
future tolerance and one day of slack, so every copy still on time arrives while its key is in the state."""

from __future__ import annotations

from weir.spec import parse_spec_text
from weir.spec.durations import DAY_US, parse_duration_us
from weir.stream.dedup import DEDUP_SLACK_US, dedup_horizon_us

SPEC = """
name: h
entity: {{name: user, keys: [user_id]}}
source:
  kafka: {{topic: t}}
  event_time: event_ts
  event_id: txn_id
  {extra}
  columns: {{txn_id: string, user_id: string, event_ts: timestamp}}
features:
  - {{name: n, aggregation: count, windows: [1d]}}
"""


def test_horizon_adds_the_day_the_lateness_the_future_and_the_slack() -> None:
    group = parse_spec_text(SPEC.format(extra="allowed_lateness: 6h\n  max_future: 2h"))
    assert DEDUP_SLACK_US == DAY_US
    assert dedup_horizon_us(group) == 2 * DAY_US + parse_duration_us("6h") + parse_duration_us("2h")


def test_without_allowed_lateness_the_horizon_is_two_days_and_the_future() -> None:
    group = parse_spec_text(SPEC.format(extra=""))
    assert dedup_horizon_us(group) == 2 * DAY_US + parse_duration_us("1h")  # max_future defaults to 1h
