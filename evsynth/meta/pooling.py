"""Inverse-variance pooling of many meta-analyses at once; ``pool`` is the batch of one.

For each analysis: tau² (see :mod:`evsynth.meta.tau2`), the weighted mean with weights
1/(vᵢ + tau²), its standard error and confidence interval, the test of the mean, Cochran's Q,
I², H² and the prediction interval, with metafor's definitions (Viechtbauer 2010):

* ``ci_method="z"``: Wald interval and z test.
* ``ci_method="hksj"``: Hartung & Knapp (2001), Sidik & Jonkman (2002): the variance of the
  mean is multiplied by q = Σ wᵢ(yᵢ − μ̂)²/(k − 1) and t(k − 1) replaces z (metafor
  ``test="knha"``).
* ``ci_method="hksj_modified"``: as ``hksj`` with q truncated below at 1 so the interval is
  never narrower than Wald (Knapp & Hartung 2003; Röver et al. 2015; metafor ``test="adhoc"``).
* Prediction interval: μ̂ ± c·√(SE² + tau²) with c from z for Wald and t(k − 1) for HKSJ, as
  metafor's ``predict.rma``; ``pi_method="higgins"`` uses t(k − 2) (Higgins, Thompson &
  Spiegelhalter 2009, eq. 12).

With k = 1 the result is the study itself: tau² = 0, Q = 0 on 0 df (p = 1), I² = 0, H² = 1,
a z-based interval (HKSJ is undefined with one study) and a prediction interval equal to the
confidence interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.batch import Batch, by_rows
from evsynth.meta.effects import as_float_arrays
from evsynth.meta.heterogeneity import i2_h2, q_statistic
from evsynth.meta.tau2 import METHODS, estimate_tau2, weighted_moments

CI_METHODS = ("z", "hksj", "hksj_modified")
PI_METHODS = ("metafor", "higgins")


@dataclass(frozen=True)
class PoolResult:
    """One pooled analysis. Ratio measures are on the log scale."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    df: float
    tau2: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pvalue: float
    pi_low: float
    pi_high: float
    k: int
    method: str
    ci_method: str
    level: float
    converged: bool
    tau2_on_boundary: bool


FIELDS = [f.name for f in fields(PoolResult)]


def _check_options(method: str, ci_method: str, level: float, pi_method: str) -> None:
    if method not in METHODS:
        raise AnalysisInputError(f"method {method!r} is not one of {METHODS}")
    if ci_method not in CI_METHODS:
        raise AnalysisInputError(f"ci_method {ci_method!r} is not one of {CI_METHODS}")
    if pi_method not in PI_METHODS:
        raise AnalysisInputError(f"pi_method {pi_method!r} is not one of {PI_METHODS}")
    if not 0 < level < 1:
        raise AnalysisInputError(f"level {level!r} must lie between 0 and 1")


def _t_quantile(p: float, df: np.ndarray) -> np.ndarray:
    """t(df) quantile at ``p``, computed once per distinct df (analyses share few)."""
    distinct, index = np.unique(df, return_inverse=True)
    return stats.t.ppf(p, distinct)[index]


def pool_batch(
    batch: Batch,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    pi_method: str = "metafor",
) -> dict[str, np.ndarray]:
    """Every :class:`PoolResult` field for each analysis of ``batch``, as arrays."""
    _check_options(method, ci_method, level, pi_method)
    k = batch.k
    est = estimate_tau2(batch, method)
    tau2 = est.tau2
    sw, mu, rss = weighted_moments(batch, tau2)
    se = np.sqrt(1.0 / sw)

    use_t = (ci_method != "z") & (k > 1)
    df = np.where(use_t, k - 1, np.nan)
    if ci_method != "z":
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = rss / (k - 1)
        if ci_method == "hksj_modified":
            scale = np.maximum(scale, 1.0)
        se = np.where(use_t, se * np.sqrt(scale), se)

    alpha = 1 - level
    z = stats.norm.ppf(1 - alpha / 2)
    crit = np.where(use_t, _t_quantile(1 - alpha / 2, np.where(use_t, df, 1.0)), z)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = mu / se  # ±inf when all yi are equal under HKSJ (se = 0), as metafor
    size = np.abs(statistic)
    p_value = np.empty(len(k))
    p_value[~use_t] = 2 * stats.norm.sf(size[~use_t])
    # t tail: scipy.stats.t.sf is special.stdtr(df, −x); called directly, it splits over threads
    p_value[use_t] = 2 * by_rows(special.stdtr, df[use_t], -size[use_t])

    q, q_df, q_p = q_statistic(batch)
    i2, h2 = i2_h2(batch, tau2, q, method)

    if pi_method == "higgins":
        pi_df = k - 2
        pi_crit = np.where(pi_df > 0, _t_quantile(1 - alpha / 2, np.maximum(pi_df, 1)), np.nan)
        pi_crit = np.where(k == 1, crit, pi_crit)
    else:
        pi_crit = crit
    pi_half = pi_crit * np.sqrt(se**2 + tau2)

    return {
        "estimate": mu,
        "se": se,
        "ci_low": mu - crit * se,
        "ci_high": mu + crit * se,
        "statistic": statistic,
        "p_value": p_value,
        "df": df,
        "tau2": tau2,
        "tau": np.sqrt(tau2),
        "i2": i2,
        "h2": h2,
        "q": q,
        "q_df": q_df,
        "q_pvalue": q_p,
        "pi_low": mu - pi_half,
        "pi_high": mu + pi_half,
        "k": k,
        "method": np.full(len(k), method, dtype=object),
        "ci_method": np.full(len(k), ci_method, dtype=object),
        "level": np.full(len(k), level),
        "converged": est.converged,
        "tau2_on_boundary": (tau2 <= 0) & (method != "EE"),
    }


def _check_study_values(y: np.ndarray, v: np.ndarray, label: str) -> None:
    if len(y) == 0:
        raise AnalysisInputError(f"{label}: no studies to pool")
    for name, values in (("yi", y), ("vi", v)):
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnalysisInputError(f"{label}: {name}[{i}] is {values[i]}, not a finite number")
    if (v <= 0).any():
        i = int(np.flatnonzero(v <= 0)[0])
        raise AnalysisInputError(f"{label}: vi[{i}] = {v[i]} is not positive")


def pool(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    *,
    pi_method: str = "metafor",
    name: str | None = None,
) -> PoolResult:
    """Pool one meta-analysis (the batch-of-one case of :func:`pool_many`)."""
    arrays = as_float_arrays(name, yi=yi, vi=vi)
    label = f"analysis {name!r}" if name else "pool"
    _check_study_values(arrays["yi"], arrays["vi"], label)
    out = pool_batch(Batch.single(arrays["yi"], arrays["vi"]), method, ci_method, level, pi_method)
    return PoolResult(**{key: _scalar(out[key][0]) for key in FIELDS})


def _scalar(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _group_codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame, bool]:
    """Each row's group number (groups in sorted key order, missing keys a group of their
    own, sorted last), the groups' key values, and whether the rows are in group order."""
    if len(keys) == 1:
        column = frame[keys[0]]
        if column.is_monotonic_increasing and len(column) > 0:  # sorted already, no missing
            values = column.to_numpy()
            first = np.concatenate([[True], values[1:] != values[:-1]])
            groups = pd.DataFrame({keys[0]: column[first].to_numpy()})
            return np.cumsum(first) - 1, groups, True
        codes, uniques = pd.factorize(column, sort=True, use_na_sentinel=False)
        return codes, pd.DataFrame({keys[0]: uniques}), False
    grouped = frame.groupby(keys, sort=True, dropna=False)
    return grouped.ngroup().to_numpy(), grouped.size().index.to_frame(index=False), False


def batch_from_frame(
    frame: pd.DataFrame, by: str | list[str], yi: str = "yi", vi: str = "vi"
) -> tuple[pd.DataFrame, Batch]:
    """Pad the studies of each group of ``frame`` into a :class:`Batch` (groups sorted,
    studies in their order in ``frame``)."""
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*keys, yi, vi] if c not in frame.columns]
    if missing:
        raise AnalysisInputError(f"pool_many: columns {missing} are not in the frame")
    codes, groups, in_order = _group_codes(frame, keys)
    y_all = frame[yi].to_numpy(dtype=float)
    v_all = frame[vi].to_numpy(dtype=float)
    if not (np.isfinite(y_all).all() and np.isfinite(v_all).all() and (v_all > 0).all()):
        i = int(np.flatnonzero(~np.isfinite(y_all) | ~np.isfinite(v_all) | ~(v_all > 0))[0])
        row = groups.iloc[codes[i]].to_dict()
        raise AnalysisInputError(
            f"pool_many: group {row}: yi = {y_all[i]}, vi = {v_all[i]} cannot be pooled "
            "(vi must be positive and both finite)"
        )
    if not in_order and len(codes) > 1 and (np.diff(codes) < 0).any():
        order = np.argsort(codes, kind="stable")
        codes, y_all, v_all = codes[order], y_all[order], v_all[order]
    counts = np.bincount(codes, minlength=len(groups))
    shape = (len(groups), int(counts.max()) if len(counts) else 0)
    if len(codes) == shape[0] * shape[1]:  # every group has kmax studies: no padding
        return groups, Batch(y_all.reshape(shape), v_all.reshape(shape), np.ones(shape, bool))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(codes)) - starts[codes]
    y, v = np.zeros(shape), np.ones(shape)
    mask = np.zeros(shape, dtype=bool)
    y[codes, position], v[codes, position], mask[codes, position] = y_all, v_all, True
    return groups, Batch(y, v, mask)


def pool_many(
    frame: pd.DataFrame,
    by: str | list[str],
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    ci_method: str = "z",
    level: float = 0.95,
    *,
    pi_method: str = "metafor",
) -> pd.DataFrame:
    """Pool every group of ``frame`` at once: one row per group, the PoolResult fields as
    columns (groups in sorted order)."""
    _check_options(method, ci_method, level, pi_method)
    groups, batch = batch_from_frame(frame, by, yi, vi)
    out = pool_batch(batch, method, ci_method, level, pi_method)
    result = pd.DataFrame({key: out[key] for key in FIELDS})
    return pd.concat([groups, result], axis=1)
