"""Experiment statistics in numpy/scipy: per-variant means, deltas with confidence intervals and Welch p-values,
the sample-ratio-mismatch check, and CUPED.

CUPED (Deng et al. 2013): ``y_adj = y - (X - mean(X)) @ theta`` with ``theta`` the least-squares coefficients
of ``y`` on the pre-exposure covariates ``X``, pooled over all variants (pooling keeps the adjustment the same
for every arm, so it removes variance without biasing the delta: the covariates are measured before exposure,
hence independent of the assignment). With one covariate ``theta = cov(y, x) / var(x)``. The plain estimate is
always reported beside the adjusted one, with the variance reduction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

SRM_ALPHA = 0.001  # GrowthBook's and Optimizely's default: an SRM alert should be near-certain


@dataclass(frozen=True)
class Estimate:
    """Treatment vs control on one metric."""

    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    delta: float  # mean_treatment - mean_control
    ci_low: float
    ci_high: float
    relative: float  # delta / mean_control
    relative_ci_low: float
    relative_ci_high: float
    p_value: float
    std_error: float
    df: float


def welch(control: ArrayLike, treatment: ArrayLike, alpha: float = 0.05) -> Estimate:
    """Difference of means with Welch's unequal-variance t interval and two-sided p-value; the relative
    interval by the delta method (variance of the ratio of two independent means)."""
    c = np.asarray(control, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if c.size < 2 or t.size < 2:
        raise ValueError("each variant needs at least 2 observations")
    mc, mt = float(c.mean()), float(t.mean())
    vc, vt = float(c.var(ddof=1)) / c.size, float(t.var(ddof=1)) / t.size
    se = float(np.sqrt(vc + vt))
    df = (vc + vt) ** 2 / (vc**2 / (c.size - 1) + vt**2 / (t.size - 1)) if se > 0 else float(c.size + t.size - 2)
    delta = mt - mc
    q = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(delta) / se, df)) if se > 0 else (0.0 if delta else 1.0)
    rel = delta / mc if mc else float("nan")
    rel_se = float(np.sqrt(vt / mc**2 + mt**2 * vc / mc**4)) if mc else float("nan")
    return Estimate(c.size, t.size, mc, mt, delta, delta - q * se, delta + q * se, rel,
                    rel - q * rel_se, rel + q * rel_se, p, se, float(df))


@dataclass(frozen=True)
class SampleRatio:
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool  # p < alpha: assignment or logging is broken; do not trust the results


def srm(counts: Mapping[str, int], weights: Mapping[str, float], alpha: float = SRM_ALPHA) -> SampleRatio:
    """Chi-square goodness of fit of the variants' entity counts against their declared weights."""
    names = list(weights)
    if set(counts) - set(names):
        raise ValueError(f"counts name variants without a weight: {sorted(set(counts) - set(names))}")
    obs = np.array([counts.get(n, 0) for n in names], dtype=float)
    w = np.array([weights[n] for n in names], dtype=float)
    live = w > 0
    exp = obs[live].sum() * w[live] / w[live].sum()
    chi2, p = stats.chisquare(obs[live], exp)
    return SampleRatio({n: int(counts.get(n, 0)) for n in names},
                       {str(n): float(e) for n, e in zip(np.array(names)[live], exp, strict=True)},
                       float(chi2), float(p), bool(p < alpha))


def cuped_theta(y: ArrayLike, covariates: ArrayLike) -> NDArray[np.float64]:
    """Least-squares coefficients of ``y`` on the centred covariates (``cov(y, x) / var(x)`` for one)."""
    yv = np.asarray(y, dtype=float)
    x = np.asarray(covariates, dtype=float).reshape(len(yv), -1)
    xc = x - x.mean(axis=0)
    theta, *_ = np.linalg.lstsq(xc, yv - yv.mean(), rcond=None)
    return np.asarray(theta, dtype=float)


def cuped_adjust(y: ArrayLike, covariates: ArrayLike) -> NDArray[np.float64]:
    """``y - (X - mean(X)) @ theta``: same mean as ``y``, less variance when ``X`` predicts ``y``."""
    yv = np.asarray(y, dtype=float)
    x = np.asarray(covariates, dtype=float).reshape(len(yv), -1)
    return np.asarray(yv - (x - x.mean(axis=0)) @ cuped_theta(yv, x), dtype=float)


@dataclass(frozen=True)
class MetricResult:
    metric: str
    variant: str  # the treatment compared with the control
    plain: Estimate
    cuped: Estimate | None
    variance_reduction: float | None  # 1 - var(delta_cuped) / var(delta_plain)


def analyse(metric: str, y: ArrayLike, variant: Sequence[str] | NDArray[np.str_], control: str,
            covariates: ArrayLike | None = None, alpha: float = 0.05) -> list[MetricResult]:
    """Each non-control variant against ``control``: the plain Welch estimate and, given pre-exposure
    covariates (rows aligned with ``y``), the CUPED one."""
    yv = np.asarray(y, dtype=float)
    arms = np.asarray(variant)
    if arms.shape[0] != yv.shape[0]:
        raise ValueError("y and variant must have one entry per entity")
    adj = cuped_adjust(yv, covariates) if covariates is not None else None
    out: list[MetricResult] = []
    for name in sorted(set(arms.tolist()) - {control}):
        c, t = arms == control, arms == name
        plain = welch(yv[c], yv[t], alpha)
        cup = welch(adj[c], adj[t], alpha) if adj is not None else None
        reduction = 1 - (cup.std_error / plain.std_error) ** 2 if cup is not None and plain.std_error else None
        out.append(MetricResult(metric, name, plain, cup, reduction))
    return out
