"""Seeded, reproducible synthetic consumer-credit data (pure numpy/pandas, no Spark).

``generate(...)`` returns a :class:`DemoData` of five pandas frames: ``users``, ``merchants``,
``transactions`` (card events), ``loans`` and ``repayments`` (instalment payment events).
``iter_transactions_live(...)`` yields an endless stream of JSON-serialisable transaction dicts over the
same user/merchant universe, for a Kafka demo producer.

Time convention: every timestamp column is ``datetime64[us]`` and **tz-naive, representing UTC**.
``start`` may be naive (taken as UTC) or tz-aware (converted to UTC). Live events carry ``event_ts`` as an
ISO-8601 string with microseconds and a ``Z`` suffix (``2024-01-01T12:00:00.123456Z``).

The same seed always gives identical frames. Each concern draws from its own child stream of the seed, so the
user and merchant universe depends only on ``(seed, n_users, n_merchants)`` (signup times are relative to
``start``), and live events reuse it.

Realism in brief: per-user Poisson arrivals with a daily (and weekly) cycle; a few heavy users (gamma
activity, ~1% boosted 8x); Zipf-like merchant popularity plus per-user favourite merchants; lognormal amounts
by merchant category; decline probability rising with user risk segment, merchant risk and amount relative to
credit limit; amortised monthly loan instalments, paid on time, late (probability by risk segment), partially,
or never.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------------------- schemas
# Column -> logical type ("string", "double", "timestamp", "int", "boolean"); the writer maps these to Spark
# types, the tests check pandas dtypes against them. Order is the column order of each frame.
USERS_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "signup_ts": "timestamp",
    "credit_limit": "double",
    "risk_segment": "string",
}
MERCHANTS_COLUMNS: dict[str, str] = {
    "merchant_id": "string",
    "merchant_category": "string",
    "merchant_risk": "double",
}
TRANSACTIONS_COLUMNS: dict[str, str] = {
    "txn_id": "string",
    "user_id": "string",
    "merchant_id": "string",
    "merchant_category": "string",
    "amount": "double",
    "status": "string",
    "event_ts": "timestamp",
}
LOANS_COLUMNS: dict[str, str] = {
    "loan_id": "string",
    "user_id": "string",
    "principal": "double",
    "issued_ts": "timestamp",
    "term_months": "int",
}
REPAYMENTS_COLUMNS: dict[str, str] = {
    "repayment_id": "string",
    "user_id": "string",
    "loan_id": "string",
    "amount_due": "double",
    "amount_paid": "double",
    "due_ts": "timestamp",
    "event_ts": "timestamp",
    "days_late": "int",
    "is_late": "boolean",
    "on_time": "int",
}
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "users": USERS_COLUMNS,
    "merchants": MERCHANTS_COLUMNS,
    "transactions": TRANSACTIONS_COLUMNS,
    "loans": LOANS_COLUMNS,
    "repayments": REPAYMENTS_COLUMNS,
}
# pandas dtype of each logical type (strings are plain Python ``str`` in object columns)
PANDAS_DTYPES: dict[str, str] = {
    "string": "object",
    "double": "float64",
    "timestamp": "datetime64[us]",
    "int": "int32",
    "boolean": "bool",
}

# ---------------------------------------------------------------------------------------------- model
RISK_SEGMENTS = ("low", "medium", "high")
RISK_SEGMENT_P = (0.60, 0.30, 0.10)
_SEGMENT_LIMIT_MU = (math.log(8000.0), math.log(4000.0), math.log(1500.0))  # credit limit lognormal mu
_SEGMENT_DECLINE_LOGIT = (0.0, 0.8, 1.8)
_SEGMENT_APR = (0.09, 0.16, 0.28)
_SEGMENT_LATE_P = (0.04, 0.12, 0.30)
_SEGMENT_PARTIAL_P = (0.02, 0.05, 0.12)
_SEGMENT_MISSED_P = (0.005, 0.02, 0.06)
_SEGMENT_LOAN_P = (0.25, 0.35, 0.45)

# category: (share of merchants, amount lognormal mu, sigma, base merchant risk)
CATEGORIES: dict[str, tuple[float, float, float, float]] = {
    "grocery": (0.20, math.log(35.0), 0.6, 0.05),
    "restaurants": (0.18, math.log(28.0), 0.6, 0.08),
    "fuel": (0.10, math.log(45.0), 0.35, 0.06),
    "online_retail": (0.14, math.log(55.0), 0.9, 0.20),
    "apparel": (0.09, math.log(70.0), 0.7, 0.12),
    "electronics": (0.07, math.log(180.0), 0.9, 0.30),
    "travel": (0.06, math.log(320.0), 0.8, 0.25),
    "pharmacy": (0.06, math.log(22.0), 0.5, 0.05),
    "entertainment": (0.06, math.log(40.0), 0.7, 0.15),
    "gambling": (0.04, math.log(60.0), 1.1, 0.70),
}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)

# relative transaction intensity by hour of day (UTC): quiet nights, lunch and evening peaks
HOURLY_WEIGHTS = np.array(
    [0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.60, 0.90, 1.00, 1.05, 1.25,
     1.45, 1.35, 1.10, 1.05, 1.10, 1.30, 1.55, 1.60, 1.40, 1.10, 0.75, 0.45]
)
HOURLY_P = HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum()
WEEKDAY_FACTOR = np.array([0.95, 0.95, 1.0, 1.0, 1.1, 1.2, 1.05])  # Monday .. Sunday

_DECLINE_BASE_LOGIT = -3.9
_HEAVY_USER_SHARE = 0.01
_HEAVY_USER_BOOST = 8.0
_FAVOURITES = 3
_FAVOURITE_SHARE = 0.4
_ZIPF_S = 1.1
_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S

# child stream ids of the seed (stable: never renumber)
_S_USERS, _S_MERCHANTS, _S_TXNS, _S_LOANS, _S_REPAY, _S_LIVE = range(1, 7)


@dataclass(frozen=True)
class DemoData:
    """The generated tables (pandas) and the half-open time range ``[start, end)`` they cover (naive UTC)."""

    users: pd.DataFrame
    merchants: pd.DataFrame
    transactions: pd.DataFrame
    loans: pd.DataFrame
    repayments: pd.DataFrame
    start: datetime
    end: datetime

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name -> frame, in dependency order."""
        return {
            "users": self.users,
            "merchants": self.merchants,
            "transactions": self.transactions,
            "loans": self.loans,
            "repayments": self.repayments,
        }


# ---------------------------------------------------------------------------------------------- helpers
def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([stream, seed])


def to_utc_naive(ts: datetime) -> datetime:
    """``ts`` as a naive datetime in UTC (naive input is taken to be UTC already)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def _us(ts: datetime) -> int:
    """Microseconds since the epoch of a naive-UTC datetime."""
    return int((ts - datetime(1970, 1, 1)) // timedelta(microseconds=1))


def _ts(us: np.ndarray) -> np.ndarray:
    return np.asarray(us, dtype=np.int64).astype("datetime64[us]")


def _ids(prefix: str, n: int, width: int, first: int = 1) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(first, first + n)], dtype=object)


def _frame(columns: dict[str, str], data: dict[str, Any]) -> pd.DataFrame:
    """A frame with exactly ``columns`` in order, each cast to its pandas dtype."""
    out = pd.DataFrame({name: data[name] for name in columns})
    return out.astype({name: PANDAS_DTYPES[kind] for name, kind in columns.items()})


@dataclass(frozen=True)
class _Universe:
    user_ids: np.ndarray  # object[str]
    segment: np.ndarray  # int index into RISK_SEGMENTS
    credit_limit: np.ndarray
    activity: np.ndarray  # mean 1.0
    spend_scale: np.ndarray  # per-user amount multiplier
    signup_offset_us: np.ndarray  # microseconds before start (positive)
    merchant_ids: np.ndarray
    merchant_cat: np.ndarray  # int index into CATEGORY_NAMES
    merchant_risk: np.ndarray
    merchant_p: np.ndarray  # popularity, sums to 1
    favourites: np.ndarray  # (n_users, _FAVOURITES) merchant indexes


def _universe(seed: int, n_users: int, n_merchants: int) -> _Universe:
    if n_users < 1 or n_merchants < 1:
        raise ValueError(f"need at least one user and one merchant, got n_users={n_users}, "
                         f"n_merchants={n_merchants}")
    ru = _rng(seed, _S_USERS)
    segment = ru.choice(len(RISK_SEGMENTS), size=n_users, p=RISK_SEGMENT_P)
    mu = np.asarray(_SEGMENT_LIMIT_MU)[segment]
    credit_limit = np.clip(np.round(ru.lognormal(mu, 0.45) / 100.0) * 100.0, 300.0, 50_000.0)
    activity = ru.gamma(2.0, 0.5, size=n_users)
    heavy = ru.random(n_users) < _HEAVY_USER_SHARE
    activity = np.where(heavy, activity * _HEAVY_USER_BOOST, activity)
    activity = activity / activity.mean()
    spend_scale = ru.lognormal(0.0, 0.3, size=n_users)
    # signed up between 3 years and 1 day before start
    signup_offset_us = ru.integers(_US_PER_DAY, 3 * 365 * _US_PER_DAY, size=n_users)

    rm = _rng(seed, _S_MERCHANTS)
    shares = np.array([c[0] for c in CATEGORIES.values()])
    merchant_cat = rm.choice(len(CATEGORY_NAMES), size=n_merchants, p=shares / shares.sum())
    base_risk = np.array([c[3] for c in CATEGORIES.values()])[merchant_cat]
    merchant_risk = np.round(np.clip(base_risk + rm.normal(0.0, 0.07, size=n_merchants), 0.0, 1.0), 4)
    rank = rm.permutation(n_merchants) + 1
    popularity = 1.0 / rank.astype(float) ** _ZIPF_S
    merchant_p = popularity / popularity.sum()
    favourites = rm.choice(n_merchants, size=(n_users, _FAVOURITES), p=merchant_p)

    return _Universe(
        user_ids=_ids("u", n_users, 6),
        segment=segment,
        credit_limit=credit_limit,
        activity=activity,
        spend_scale=spend_scale,
        signup_offset_us=signup_offset_us,
        merchant_ids=_ids("m", n_merchants, 5),
        merchant_cat=merchant_cat,
        merchant_risk=merchant_risk,
        merchant_p=merchant_p,
        favourites=favourites,
    )


def _pick_merchants(rng: np.random.Generator, uni: _Universe, user_idx: np.ndarray) -> np.ndarray:
    n = len(user_idx)
    merchant_idx = rng.choice(len(uni.merchant_ids), size=n, p=uni.merchant_p)
    fav = rng.random(n) < _FAVOURITE_SHARE
    slot = rng.integers(0, _FAVOURITES, size=n)
    return np.where(fav, uni.favourites[user_idx, slot], merchant_idx)


def _amounts_and_status(
    rng: np.random.Generator, uni: _Universe, user_idx: np.ndarray, merchant_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lognormal amounts by category (in cents-rounded dollars) and the status of each transaction."""
    cat = uni.merchant_cat[merchant_idx]
    mu = np.array([c[1] for c in CATEGORIES.values()])[cat]
    sigma = np.array([c[2] for c in CATEGORIES.values()])[cat]
    amount = rng.lognormal(mu, sigma) * uni.spend_scale[user_idx]
    amount = np.maximum(np.round(amount, 2), 0.5)
    utilisation = np.minimum(amount / uni.credit_limit[user_idx], 2.0)
    logit = (
        _DECLINE_BASE_LOGIT
        + np.asarray(_SEGMENT_DECLINE_LOGIT)[uni.segment[user_idx]]
        + 2.5 * uni.merchant_risk[merchant_idx]
        + 1.5 * utilisation
    )
    declined = rng.random(len(amount)) < 1.0 / (1.0 + np.exp(-logit))
    status = np.where(declined, "declined", "approved").astype(object)
    return amount, status


# ---------------------------------------------------------------------------------------------- generate
def generate(
    seed: int,
    start: datetime,
    days: int,
    n_users: int,
    n_merchants: int,
    txns_per_user_per_day: float,
) -> DemoData:
    """Generate the demo tables for the half-open range ``[start, start + days)``.

    ``txns_per_user_per_day`` is the mean over users (a few heavy users do many times more).
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if txns_per_user_per_day < 0:
        raise ValueError(f"txns_per_user_per_day must be >= 0, got {txns_per_user_per_day}")
    start = to_utc_naive(start)
    end = start + timedelta(days=days)
    start_us, end_us = _us(start), _us(end)
    uni = _universe(seed, n_users, n_merchants)

    users = _frame(USERS_COLUMNS, {
        "user_id": uni.user_ids,
        "signup_ts": _ts(start_us - uni.signup_offset_us),
        "credit_limit": uni.credit_limit,
        "risk_segment": np.asarray(RISK_SEGMENTS, dtype=object)[uni.segment],
    })
    merchants = _frame(MERCHANTS_COLUMNS, {
        "merchant_id": uni.merchant_ids,
        "merchant_category": np.asarray(CATEGORY_NAMES, dtype=object)[uni.merchant_cat],
        "merchant_risk": uni.merchant_risk,
    })
    transactions = _transactions(seed, uni, start, days, txns_per_user_per_day)
    loans, loan_user_idx, loan_apr = _loans(seed, uni, start_us, end_us)
    repayments = _repayments(seed, uni, loans, loan_user_idx, loan_apr, start_us, end_us)
    return DemoData(users, merchants, transactions, loans, repayments, start, end)


def _transactions(seed: int, uni: _Universe, start: datetime, days: int, rate: float) -> pd.DataFrame:
    rng = _rng(seed, _S_TXNS)
    day_factor = WEEKDAY_FACTOR[(start.weekday() + np.arange(days)) % 7]
    # Poisson per user over the whole range, then thinned onto days: same law as per-day Poisson draws
    counts = rng.poisson(rate * uni.activity * day_factor.sum())
    user_idx = np.repeat(np.arange(len(uni.user_ids)), counts)
    n = len(user_idx)
    day = rng.choice(days, size=n, p=day_factor / day_factor.sum())
    hour = rng.choice(24, size=n, p=HOURLY_P)
    within_hour = rng.integers(0, 3600 * _US_PER_S, size=n)
    event_us = _us(start) + day * _US_PER_DAY + hour * 3600 * _US_PER_S + within_hour
    merchant_idx = _pick_merchants(rng, uni, user_idx)
    amount, status = _amounts_and_status(rng, uni, user_idx, merchant_idx)

    order = np.lexsort((user_idx, event_us))
    merchant_idx = merchant_idx[order]
    return _frame(TRANSACTIONS_COLUMNS, {
        "txn_id": _ids("t", n, 9),
        "user_id": uni.user_ids[user_idx[order]],
        "merchant_id": uni.merchant_ids[merchant_idx],
        "merchant_category": np.asarray(CATEGORY_NAMES, dtype=object)[uni.merchant_cat[merchant_idx]],
        "amount": amount[order],
        "status": status[order],
        "event_ts": _ts(event_us[order]),
    })


def _loans(seed: int, uni: _Universe, start_us: int, end_us: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Loans issued in the year before ``start`` up to ``end`` (so instalments fall due inside the range)."""
    rng = _rng(seed, _S_LOANS)
    n_users = len(uni.user_ids)
    has_loan = rng.random(n_users) < np.asarray(_SEGMENT_LOAN_P)[uni.segment]
    n_loans = np.where(has_loan, 1 + (rng.random(n_users) < 0.15), 0)
    user_idx = np.repeat(np.arange(n_users), n_loans)
    m = len(user_idx)
    issued_us = rng.integers(start_us - 365 * _US_PER_DAY, end_us, size=m)
    signup_us = start_us - uni.signup_offset_us[user_idx]
    issued_us = np.maximum(issued_us, signup_us + _US_PER_DAY)  # never before the user existed (+1 day)
    term = rng.choice(np.array([3, 6, 12, 24, 36]), size=m, p=[0.10, 0.20, 0.35, 0.20, 0.15])
    principal = uni.credit_limit[user_idx] * rng.lognormal(math.log(0.8), 0.5, size=m)
    principal = np.clip(np.round(principal / 50.0) * 50.0, 250.0, 40_000.0)
    seg = uni.segment[user_idx]
    apr = np.asarray(_SEGMENT_APR)[seg] + rng.normal(0.0, 0.02, size=m)

    order = np.lexsort((user_idx, issued_us))
    loans = _frame(LOANS_COLUMNS, {
        "loan_id": _ids("l", m, 7),
        "user_id": uni.user_ids[user_idx[order]],
        "principal": principal[order],
        "issued_ts": _ts(issued_us[order]),
        "term_months": term[order],
    })
    return loans, user_idx[order], np.clip(apr[order], 0.03, 0.45)


def _repayments(
    seed: int,
    uni: _Universe,
    loans: pd.DataFrame,
    loan_user_idx: np.ndarray,
    loan_apr: np.ndarray,
    start_us: int,
    end_us: int,
) -> pd.DataFrame:
    """Instalment payments recorded in ``[start, end)``.

    Instalment k of a loan is due at 00:00 UTC on the same day of month (capped at the 28th) k months after
    issue, for an amortised payment. A payment on the due date or before is on time; ``days_late`` counts
    calendar days after the due date. Missed instalments have no row; the table holds what was recorded in
    the range (an instalment due just before ``start`` and paid late inside it is included; one due near
    ``end`` and not yet paid is not).
    """
    rng = _rng(seed, _S_REPAY)
    term = loans["term_months"].to_numpy(dtype=np.int64)
    principal = loans["principal"].to_numpy(dtype=float)
    issued = loans["issued_ts"].to_numpy(dtype="datetime64[us]")
    r = loan_apr / 12.0
    instalment = np.round(principal * r / (1.0 - (1.0 + r) ** -term), 2)

    loan_idx = np.repeat(np.arange(len(loans)), term)
    k = np.arange(len(loan_idx)) - np.repeat(np.cumsum(term) - term, term) + 1  # 1..term per loan
    issued_i = issued[loan_idx]
    issued_month = issued_i.astype("datetime64[M]")
    dom = (issued_i.astype("datetime64[D]") - issued_month.astype("datetime64[D]")).astype(np.int64)
    due_day = (issued_month + k).astype("datetime64[D]") + np.minimum(dom, 27)
    due_us = due_day.astype("datetime64[us]").astype(np.int64)
    n = len(loan_idx)

    seg = uni.segment[loan_user_idx[loan_idx]]
    u = rng.random(n)
    missed = u < np.asarray(_SEGMENT_MISSED_P)[seg]
    late = ~missed & (u < np.asarray(_SEGMENT_MISSED_P)[seg] + np.asarray(_SEGMENT_LATE_P)[seg])
    days_late = np.where(late, np.minimum(rng.geometric(0.15, size=n), 90), 0)
    early_days = rng.integers(0, 6, size=n)  # on-time payers pay 0-5 days ahead
    day_offset = np.where(late, days_late, -early_days)
    tod = rng.choice(24, size=n, p=HOURLY_P) * 3600 * _US_PER_S + rng.integers(0, 3600 * _US_PER_S, size=n)
    event_us = due_us + day_offset * _US_PER_DAY + tod
    partial = rng.random(n) < np.asarray(_SEGMENT_PARTIAL_P)[seg]
    amount_due = instalment[loan_idx]
    amount_paid = np.where(partial, np.round(amount_due * rng.uniform(0.2, 0.9, size=n), 2), amount_due)

    issued_us = issued_i.astype(np.int64)
    keep = ~missed & (event_us >= start_us) & (event_us < end_us) & (event_us > issued_us)
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((loan_idx[idx], event_us[idx]))]
    is_late = days_late[idx] > 0
    return _frame(REPAYMENTS_COLUMNS, {
        "repayment_id": _ids("r", len(idx), 8),
        "user_id": loans["user_id"].to_numpy()[loan_idx[idx]],
        "loan_id": loans["loan_id"].to_numpy()[loan_idx[idx]],
        "amount_due": amount_due[idx],
        "amount_paid": amount_paid[idx],
        "due_ts": _ts(due_us[idx]),
        "event_ts": _ts(event_us[idx]),
        "days_late": days_late[idx],
        "is_late": is_late,
        "on_time": (~is_late).astype(np.int32),
    })


# ---------------------------------------------------------------------------------------------- live
def iso_utc(us: int) -> str:
    """Microseconds since the epoch as ISO-8601 UTC with microseconds and a ``Z``."""
    return (datetime(1970, 1, 1) + timedelta(microseconds=int(us))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iter_transactions_live(
    seed: int,
    start: datetime,
    rate_per_s: float,
    n_users: int = 2000,
    n_merchants: int = 500,
    batch: int = 1024,
) -> Iterator[dict[str, Any]]:
    """Endless transaction events from ``start`` on, ``rate_per_s`` events per second of event time on average.

    Same users/merchants/amount/decline model as :func:`generate` (same seed and sizes -> same universe).
    Inter-arrival times are exponential; the daily cycle modulates the rate. The iterator does not sleep:
    a producer paces it (or replays it as fast as it can). Each dict has exactly the transaction columns;
    ``event_ts`` is an ISO-8601 UTC string with a ``Z``; ``txn_id`` is ``live-<seed>-<n>`` (never clashes with
    batch ids). Deterministic for a given seed, start and rate.
    """
    if rate_per_s <= 0:
        raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
    uni = _universe(seed, n_users, n_merchants)
    rng = _rng(seed, _S_LIVE)
    user_p = uni.activity / uni.activity.sum()
    now_us = float(_us(to_utc_naive(start)))
    # thinning against the peak hourly rate gives a non-homogeneous Poisson process with the daily cycle
    peak = float(HOURLY_WEIGHTS.max())
    rel = HOURLY_WEIGHTS / HOURLY_WEIGHTS.mean()
    max_rate_per_us = rate_per_s * (peak / HOURLY_WEIGHTS.mean()) / _US_PER_S
    counter = 0
    while True:
        gaps = rng.exponential(1.0 / max_rate_per_us, size=batch)
        times = now_us + np.cumsum(gaps)
        now_us = float(times[-1])
        hour = ((times // (3600 * _US_PER_S)) % 24).astype(np.int64)
        accepted = rng.random(batch) < rel[hour] / rel.max()
        times = times[accepted].astype(np.int64)
        m = len(times)
        user_idx = rng.choice(len(uni.user_ids), size=m, p=user_p)
        merchant_idx = _pick_merchants(rng, uni, user_idx)
        amount, status = _amounts_and_status(rng, uni, user_idx, merchant_idx)
        for i in range(m):
            counter += 1
            mi = int(merchant_idx[i])
            yield {
                "txn_id": f"live-{seed}-{counter:012d}",
                "user_id": str(uni.user_ids[user_idx[i]]),
                "merchant_id": str(uni.merchant_ids[mi]),
                "merchant_category": CATEGORY_NAMES[int(uni.merchant_cat[mi])],
                "amount": float(amount[i]),
                "status": str(status[i]),
                "event_ts": iso_utc(int(times[i])),
            }
