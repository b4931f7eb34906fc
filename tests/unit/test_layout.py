"""The group layout rules of ``weir.compute.layout`` against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from weir.compute.layout import (
    Lookback,
    column_defaults,
    expires_at_s,
    feature_default,
    is_expired,
    is_retired,
    lifetime_features,
    lifetime_hop,
    longest_window_per_hop,
    lookback_days,
    retention_us,
    run_time,
    run_time_us,
    windowed_features_by_hop,
)
from weir.compute.online_tile import decode_value, online_type
from weir.compute.windows import DAY_US, HOUR_US, MINUTE_US, feature_windows
from weir.spec import FeatureGroup

H, D, M = HOUR_US, DAY_US, MINUTE_US


def group(features: list[dict[str, Any]], defer: bool = False) -> FeatureGroup:
    data = {
        "name": "g", "entity": {"name": "user", "keys": ["user_id"]},
        "source": {"delta": "t", "event_time": "event_ts",
                   "columns": {"user_id": "string", "amount": "double", "merchant": "string",
                               "event_ts": "timestamp"}},
        "features": features, "online": {"ttl": "7d"},
    }
    return FeatureGroup.model_validate(data, context={"defer_semantic_checks": True} if defer else None)


# default hops: 1h -> 5m, 1d and 7d -> 1h, 30d -> 1d, lifetime -> 1d
MIXED = group([
    {"name": "txn", "aggregation": "count", "windows": ["1h", "1d", "7d"]},
    {"name": "spend", "aggregation": "sum", "column": "amount", "windows": ["30d"], "default": 0.0},
    {"name": "last_merchant", "aggregation": "last", "column": "merchant"},
    {"name": "merchants", "aggregation": "approx_count_distinct", "column": "merchant"},
])
WINDOWED = group([
    {"name": "txn", "aggregation": "count", "windows": ["36h"]},
    {"name": "spend", "aggregation": "sum", "column": "amount", "windows": ["2d"], "hop": "6h"},
])


def test_lifetime_features_and_hop() -> None:
    assert [f.name for f in lifetime_features(MIXED)] == ["last_merchant", "merchants"]
    assert lifetime_hop(MIXED) == D
    assert lifetime_features(WINDOWED) == [] and lifetime_hop(WINDOWED) is None
    hourly = group([{"name": "a", "aggregation": "count", "hop": "1h"},
                    {"name": "b", "aggregation": "count", "hop": "1h"}])
    assert lifetime_hop(hourly) == H


def test_lifetime_hop_rule_is_the_spec_rule() -> None:
    """A group that skipped the spec checks still cannot run with two lifetime hops: same rule, same words."""
    bad = group([{"name": "a", "aggregation": "count"}, {"name": "b", "aggregation": "count", "hop": "1h"}],
                defer=True)
    with pytest.raises(ValueError, match=r"group 'g': features\[1\]\.hop: lifetime feature 'b' has hop 1h but "
                                         r"lifetime feature 'a' \(features\[0\]\) has 1d"):
        lifetime_hop(bad)


def test_windowed_features_and_longest_window_per_hop() -> None:
    windows = feature_windows(MIXED)
    by_hop = {hop: [f.name for f in feats] for hop, feats in windowed_features_by_hop(windows).items()}
    assert by_hop == {5 * M: ["txn"], H: ["txn"], D: ["spend"]}
    assert longest_window_per_hop(windows) == {5 * M: H, H: 7 * D, D: 30 * D}
    # the 1d hop also serves the lifetime features: a reader merging them from tiles needs every 1d tile
    assert longest_window_per_hop(windows, lifetime=True) == {5 * M: H, H: 7 * D, D: None}
    assert longest_window_per_hop(feature_windows(WINDOWED), lifetime=True) == {H: 36 * H, 6 * H: 2 * D}


def test_lookback_days_by_reason() -> None:
    # READ: ceil((w + h) / 1d) over the windows: 30d + 1d = 31 days (7d + 1h -> 8, 1h + 5m -> 1)
    assert lookback_days(feature_windows(MIXED), Lookback.READ) == 31
    # 36h + 1h = 37h -> 2 days; 2d + 6h = 54h -> 3 days
    assert lookback_days(feature_windows(WINDOWED), Lookback.READ) == 3
    # DEPENDS: the longest window's days before ds: 2d -> ds-1 (and ds); 36h -> also ds-1
    assert lookback_days(feature_windows(WINDOWED), Lookback.DEPENDS) == 1
    assert lookback_days(feature_windows(group([{"name": "n", "aggregation": "count", "windows": ["1d"]}])),
                         Lookback.DEPENDS) == 0
    assert lookback_days(feature_windows(MIXED), Lookback.DEPENDS) is None  # lifetime: every earlier day
    # lifetime features come from the snapshot, so they add nothing to what is read
    assert lookback_days(feature_windows(group([{"name": "n", "aggregation": "count"}])), Lookback.READ) == 0


def test_run_time_of_a_day() -> None:
    assert run_time(date(2024, 1, 31)) == datetime(2024, 2, 1, tzinfo=UTC)
    assert run_time(date(2024, 12, 31)) == datetime(2025, 1, 1, tzinfo=UTC)
    assert run_time_us(date(1970, 1, 1)) == 86_400_000_000
    assert run_time_us(date(2024, 1, 1)) == 1_704_153_600_000_000  # 2024-01-02 00:00:00 UTC


def test_feature_defaults() -> None:
    assert feature_default(MIXED.feature("txn")) == 0  # count: no events is zero
    assert feature_default(MIXED.feature("merchants")) == 0  # approx_count_distinct likewise
    assert feature_default(MIXED.feature("last_merchant")) is None
    assert feature_default(MIXED.feature("spend")) == 0.0  # the spec's default
    assert feature_default(WINDOWED.feature("spend")) is None
    assert column_defaults(MIXED) == {"txn_count_1h": 0, "txn_count_1d": 0, "txn_count_7d": 0,
                                      "spend_sum_30d": 0.0, "last_merchant_last": None,
                                      "merchants_approx_count_distinct": 0}


def test_ttl_expiry() -> None:
    t = 1_704_153_600_000_000
    week = 7 * D
    assert is_expired(MIXED, None, t)  # no event at all
    assert is_expired(MIXED, t - week, t)  # an age exactly equal to the TTL is expired
    assert not is_expired(MIXED, t - week + 1, t)
    assert not is_expired(MIXED, t, t)
    # TTL attribute of a group whose windows all end within the TTL (2d + 6h hop < 7d): the first whole second
    # at which the item is expired (604800 s = 7 days)
    assert retention_us(WINDOWED) == week
    assert expires_at_s(WINDOWED, 2_000_000_000_000) == 2_604_800
    assert expires_at_s(WINDOWED, 1_000_000_500_000) == 1_604_801
    newest = 1_000_000_500_000
    assert not is_expired(WINDOWED, newest, (expires_at_s(WINDOWED, newest) - 1) * 1_000_000)
    assert is_expired(WINDOWED, newest, expires_at_s(WINDOWED, newest) * 1_000_000)


def test_items_are_kept_while_a_window_can_reach_their_tiles() -> None:
    """Served as missing from the TTL on, but kept (not published past, not deleted) until no window can reach
    the entity's last tile, so a later stream event merges into the older tiles; for ever with lifetime."""
    month = group([{"name": "spend", "aggregation": "sum", "column": "amount", "windows": ["30d"]}])
    newest = 1_704_153_600_000_000
    assert retention_us(month) == 31 * D  # the 30d window + its 1d hop: the last tile ends by newest + 1d
    assert expires_at_s(month, newest) == (newest + 31 * D) // 1_000_000
    assert is_expired(month, newest, newest + 7 * D)  # served as missing at the 7d TTL ...
    assert not is_retired(month, newest, newest + 31 * D - 1)  # ... but still written and kept
    assert is_retired(month, newest, newest + 31 * D)
    assert retention_us(MIXED) is None and expires_at_s(MIXED, newest) is None  # lifetime state: for ever
    assert not is_retired(MIXED, newest, newest + 10_000 * D)


def test_online_tile_values() -> None:
    assert online_type("timestamp") == "long" and online_type("date") == "int" and online_type("double") == "double"
    assert decode_value("timestamp", 86_400_000_000) == datetime(1970, 1, 2, tzinfo=UTC)
    assert decode_value("date", 19_723) == date(2024, 1, 1)
    assert decode_value("double", 1.5) == 1.5 and decode_value("string", "m1") == "m1"
    assert decode_value("timestamp", None) is None
