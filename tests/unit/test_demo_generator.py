"""The synthetic demo data: reproducible, exactly typed, and plausible."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from weir.demo import TABLE_COLUMNS, DemoData, generate, iter_transactions_live
from weir.demo.generator import PANDAS_DTYPES

START = datetime(2024, 3, 1)
DAYS = 14


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(seed=42, start=START, days=DAYS, n_users=300, n_merchants=80, txns_per_user_per_day=2.0)


def test_same_seed_gives_identical_frames(data: DemoData) -> None:
    again = generate(seed=42, start=START, days=DAYS, n_users=300, n_merchants=80, txns_per_user_per_day=2.0)
    for name, frame in data.tables().items():
        pd.testing.assert_frame_equal(frame, again.tables()[name], check_exact=True)


def test_different_seed_gives_different_frames(data: DemoData) -> None:
    other = generate(seed=43, start=START, days=DAYS, n_users=300, n_merchants=80, txns_per_user_per_day=2.0)
    for name in ("users", "transactions", "repayments"):
        assert not data.tables()[name].equals(other.tables()[name]), name


def test_columns_and_dtypes_are_exactly_as_documented(data: DemoData) -> None:
    assert TABLE_COLUMNS["transactions"] == {
        "txn_id": "string", "user_id": "string", "merchant_id": "string", "merchant_category": "string",
        "amount": "double", "status": "string", "event_ts": "timestamp",
    }
    assert TABLE_COLUMNS["repayments"] == {
        "repayment_id": "string", "user_id": "string", "loan_id": "string", "amount_due": "double",
        "amount_paid": "double", "due_ts": "timestamp", "event_ts": "timestamp", "days_late": "int",
        "is_late": "boolean", "on_time": "int",
    }
    for name, frame in data.tables().items():
        cols = TABLE_COLUMNS[name]
        assert list(frame.columns) == list(cols), name
        assert {c: str(t) for c, t in frame.dtypes.items()} == {c: PANDAS_DTYPES[k] for c, k in cols.items()}, name
        assert not frame.isna().any().any(), name
        for col, kind in cols.items():
            if kind == "string":
                assert frame[col].map(type).eq(str).all(), (name, col)
        assert len(frame) > 0, name


def test_ids_are_unique_and_well_formed(data: DemoData) -> None:
    users, merchants, tx = data.users, data.merchants, data.transactions
    assert users["user_id"].is_unique and users["user_id"].str.fullmatch(r"u\d{6}").all()
    assert users["user_id"].iloc[0] == "u000001"
    assert merchants["merchant_id"].is_unique and merchants["merchant_id"].str.fullmatch(r"m\d{5}").all()
    assert tx["txn_id"].is_unique
    assert data.loans["loan_id"].is_unique and data.repayments["repayment_id"].is_unique
    assert set(tx["user_id"]) <= set(users["user_id"])
    assert set(tx["merchant_id"]) <= set(merchants["merchant_id"])
    cat = merchants.set_index("merchant_id")["merchant_category"]
    assert (tx["merchant_id"].map(cat) == tx["merchant_category"]).all()
    assert set(data.repayments["loan_id"]) <= set(data.loans["loan_id"])
    loan_user = data.loans.set_index("loan_id")["user_id"]
    assert (data.repayments["loan_id"].map(loan_user) == data.repayments["user_id"]).all()


def test_transactions_are_in_range_and_plausible(data: DemoData) -> None:
    tx = data.transactions
    assert set(tx["status"]) == {"approved", "declined"}
    assert tx["event_ts"].min() >= pd.Timestamp(START)
    assert tx["event_ts"].max() < pd.Timestamp(START + timedelta(days=DAYS))
    assert tx["event_ts"].is_monotonic_increasing
    assert (tx["amount"] > 0).all()
    decline_rate = (tx["status"] == "declined").mean()
    assert 0.02 <= decline_rate <= 0.20
    # about 2 per user per day on average, with a few heavy users
    per_user = tx.groupby("user_id").size()
    assert 0.7 * 2.0 * DAYS * 300 <= len(tx) <= 1.3 * 2.0 * DAYS * 300
    assert per_user.max() > 4 * per_user.median()
    # daily cycle: the evening is busier than the small hours
    by_hour = tx.groupby(tx["event_ts"].dt.hour).size()
    assert by_hour.loc[18:20].sum() > 5 * by_hour.loc[2:4].sum()
    # amounts depend on the category
    med = tx.groupby("merchant_category")["amount"].median()
    assert med["travel"] > 3 * med["grocery"]
    # a popular merchant takes far more than its even share
    assert tx["merchant_id"].value_counts().iloc[0] > 5 * len(tx) / len(data.merchants)


def test_riskier_users_are_declined_more(data: DemoData) -> None:
    tx = data.transactions.merge(data.users, on="user_id")
    rate = tx.groupby("risk_segment")["status"].apply(lambda s: (s == "declined").mean())
    assert rate["high"] > rate["low"]


def test_repayments_are_consistent(data: DemoData) -> None:
    rp = data.repayments
    end = pd.Timestamp(START + timedelta(days=DAYS))
    assert (rp["event_ts"] >= pd.Timestamp(START)).all() and (rp["event_ts"] < end).all()
    assert (rp["is_late"] == (rp["days_late"] > 0)).all()
    assert (rp["on_time"] == 1 - rp["is_late"].astype(int)).all()
    assert (rp["days_late"] >= 0).all()
    paid_day = rp["event_ts"].dt.normalize()
    expected_late = (paid_day - rp["due_ts"].dt.normalize()).dt.days.clip(lower=0)
    assert (expected_late == rp["days_late"]).all()
    assert (rp["amount_paid"] <= rp["amount_due"]).all() and (rp["amount_paid"] > 0).all()
    assert rp["is_late"].any() and not rp["is_late"].all()
    loans = data.loans.set_index("loan_id")
    assert (rp["event_ts"] > rp["loan_id"].map(loans["issued_ts"])).all()
    assert set(data.loans["term_months"]) <= {3, 6, 12, 24, 36}


def test_late_and_partial_payments_exist_at_scale() -> None:
    big = generate(seed=1, start=START, days=30, n_users=2000, n_merchants=200, txns_per_user_per_day=0.1)
    rp = big.repayments.merge(big.users, on="user_id")
    late = rp.groupby("risk_segment")["is_late"].mean()
    assert late["high"] > late["low"]
    assert (rp["amount_paid"] < rp["amount_due"]).any()


def test_tz_aware_start_is_taken_as_utc() -> None:
    aware = datetime(2024, 3, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))  # = 2024-03-01 00:00 UTC
    a = generate(seed=5, start=aware, days=2, n_users=20, n_merchants=10, txns_per_user_per_day=3.0)
    b = generate(seed=5, start=START, days=2, n_users=20, n_merchants=10, txns_per_user_per_day=3.0)
    assert a.start == START
    pd.testing.assert_frame_equal(a.transactions, b.transactions)


def test_generation_is_fast() -> None:
    import time

    t0 = time.perf_counter()
    big = generate(seed=3, start=START, days=30, n_users=2000, n_merchants=500, txns_per_user_per_day=2.0)
    assert len(big.transactions) > 100_000
    assert time.perf_counter() - t0 < 10.0  # ~0.5 s on an idle machine; generous for loaded CI


def test_live_events_are_json_ready_ordered_and_reproducible() -> None:
    events = list(itertools.islice(iter_transactions_live(9, START, rate_per_s=20.0, n_users=50), 3000))
    again = list(itertools.islice(iter_transactions_live(9, START, rate_per_s=20.0, n_users=50), 3000))
    assert events == again
    assert json.loads(json.dumps(events)) == events
    assert all(list(e) == list(TABLE_COLUMNS["transactions"]) for e in events)
    ts = [datetime.strptime(e["event_ts"], "%Y-%m-%dT%H:%M:%S.%fZ") for e in events]
    assert ts == sorted(ts) and ts[0] >= START
    assert len({e["txn_id"] for e in events}) == len(events)
    assert {e["status"] for e in events} == {"approved", "declined"}
    # the same universe as the batch generator
    batch = generate(seed=9, start=START, days=1, n_users=50, n_merchants=500, txns_per_user_per_day=1.0)
    cat = batch.merchants.set_index("merchant_id")["merchant_category"]
    assert all(cat[e["merchant_id"]] == e["merchant_category"] for e in events)
    assert {e["user_id"] for e in events} <= set(batch.users["user_id"])


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="days"):
        generate(seed=1, start=START, days=0, n_users=1, n_merchants=1, txns_per_user_per_day=1.0)
    with pytest.raises(ValueError, match="n_users"):
        generate(seed=1, start=START, days=1, n_users=0, n_merchants=1, txns_per_user_per_day=1.0)
    with pytest.raises(ValueError, match="rate_per_s"):
        next(iter_transactions_live(1, START, rate_per_s=0.0))
