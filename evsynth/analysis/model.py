"""The typed results of an analysis: what the analyse stage writes and the figures and the
report read.

Each result is a frozen dataclass; :func:`jsonable` turns any of them (recursively) into plain
JSON values, which ``results/analyses/{dataset}.json`` holds. ``docs/results.schema.json``
describes that JSON and is generated from these classes (:mod:`evsynth.analysis.schema`), so
the documented layout cannot drift from the code.

Ratio measures are analysed on the log scale; every estimate of a ratio analysis also has its
``*_exp`` copy (ratio scale) in the JSON, so readers never exponentiate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: The pooled-estimate fields that get an ``*_exp`` copy on the ratio scale.
EXP_FIELDS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")


def jsonable(value: Any) -> Any:
    """Plain JSON values from dataclasses, numpy scalars and arrays, DataFrames and NaN
    (NaN, NA and None become None); mappings keep their keys as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_json = getattr(value, "to_json", None)
        if to_json is not None:
            return to_json()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [jsonable(dict(zip(value.columns, row, strict=True))) for row in value.to_numpy()]
    if isinstance(value, np.ndarray | list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def with_exp(values: dict[str, Any], keys: tuple[str, ...] = EXP_FIELDS) -> dict[str, Any]:
    """``values`` plus the ``*_exp`` copy of each of ``keys`` (None stays None)."""
    out = dict(values)
    for key in keys:
        if key in values:
            v = values[key]
            out[f"{key}_exp"] = None if v is None else math.exp(v)
    return out


@dataclass(frozen=True)
class Excluded:
    """A raw row that does not enter an analysis, and why."""

    row_id: str
    study_id: str
    reason: str
    source_url: str | None = None
    doi_or_pmid: str | None = None
    quote: str | None = None


@dataclass(frozen=True)
class Study:
    """One estimate entering the analysis: a trial, or one comparison of a trial whose
    shared control was split (Cochrane Handbook §23.3.4).

    ``row_ids`` are the raw rows behind it (several when strata or arms were combined,
    ``combined`` says how); ``input`` is ``2x2``, ``means`` or ``generic`` (a published
    estimate); ``measure`` the measure of its own effect (a published HR in an RR analysis
    stays "HR"); ``columns`` the review's columns (subgroups, moderators, trial table,
    provenance), flattened into the JSON beside the other fields.
    """

    row_id: str
    row_ids: tuple[str, ...]
    study_id: str
    trial: str
    label: str
    comparison: str | None
    input: str
    measure: str
    yi: float
    vi: float
    ci_low: float
    ci_high: float
    weight_pct: float
    combined: str | None = None
    flags: tuple[str, ...] = ()
    counts: Mapping[str, Any] = field(default_factory=dict)
    published: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, Any] = field(default_factory=dict)
    risk_of_bias: Mapping[str, Any] = field(default_factory=dict)
    log_scale: bool = True

    def to_json(self) -> dict[str, Any]:
        own = {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in ("counts", "published", "columns", "log_scale")
        }
        out = {**jsonable(self.columns), **jsonable(self.counts), **own}
        out["effect"] = jsonable(self.published.get("effect"))
        out["effect_ci_low"] = jsonable(self.published.get("ci_low"))
        out["effect_ci_high"] = jsonable(self.published.get("ci_high"))
        out["effect_measure"] = jsonable(self.published.get("measure"))
        if self.log_scale:
            out = with_exp(out, ("yi", "ci_low", "ci_high"))
        return out


@dataclass(frozen=True)
class Pooled:
    """A pooled estimate (overall, one subgroup, or one sensitivity analysis).

    ``k`` counts the estimates pooled (trials; comparisons when a shared control was split),
    ``trials`` the distinct trials, ``comparisons`` the raw rows behind them.
    ``participants`` sums both arms over the trials that report both (``participants_trials``
    of them); ``events`` sums the events when every trial entered as a 2x2 table.
    ``pi_note`` says why there is no prediction interval, or why it is uninformative."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    df: float | None
    tau2: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pvalue: float
    pi_low: float | None
    pi_high: float | None
    k: int
    trials: int
    comparisons: int
    participants: int | None
    participants_trials: int
    events: int | None
    model: str
    method: str
    ci_method: str
    level: float
    converged: bool
    tau2_on_boundary: bool
    row_ids: tuple[str, ...] = ()
    pi_note: str | None = None
    log_scale: bool = True

    def to_json(self) -> dict[str, Any]:
        out = {
            f.name: jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "log_scale"
        }
        return with_exp(out) if self.log_scale else out


@dataclass(frozen=True)
class SubgroupGroup:
    """One level of a subgroup variable with its pooled estimate (None: not estimable)."""

    group: str
    pooled: Pooled

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, **self.pooled.to_json()}


@dataclass(frozen=True)
class SubgroupAnalysis:
    """The subgroups of one variable and the test for subgroup differences."""

    variable: str
    title: str
    groups: tuple[SubgroupGroup, ...]
    q_between: float | None
    df: int | None
    p_value: float | None
    i2_between: float | None
    tau2: str
    missing: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class MetaRegression:
    """A meta-regression on one moderator (None fields and a ``note`` when not estimable)."""

    variable: str
    title: str
    unit: str | None
    per: float | None
    names: tuple[str, ...] = ()
    coef: tuple[float, ...] = ()
    se: tuple[float, ...] = ()
    ci_low: tuple[float, ...] = ()
    ci_high: tuple[float, ...] = ()
    p_value: tuple[float, ...] = ()
    vcov: tuple[tuple[float, ...], ...] = ()
    qm: float | None = None
    qm_df: int | None = None
    qm_df_residual: float | None = None
    qm_pvalue: float | None = None
    tau2: float | None = None
    r2: float | None = None
    i2: float | None = None
    qe: float | None = None
    qe_df: int | None = None
    qe_pvalue: float | None = None
    k: int = 0
    method: str = ""
    ci_method: str = ""
    level: float = 0.95
    row_ids: tuple[str, ...] = ()
    categorical: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Sensitivity:
    """One configured sensitivity analysis: its pooled estimate, or why there is none."""

    title: str
    pooled: Pooled | None
    note: str | None = None


@dataclass(frozen=True)
class Absolute:
    """Absolute effects as GRADE's Summary of Findings gives them (Cochrane Handbook §14.1.5,
    §15.4.4): the assumed control risk, the corresponding intervention risk and the risk
    difference, all per 1000, with the CI from the relative effect's CI."""

    control_risk: float
    control_risk_source: str
    per_1000_control: float
    per_1000_treat: float
    per_1000_treat_ci: tuple[float, float]
    difference_per_1000: float
    difference_per_1000_ci: tuple[float, float]
    nnt: Mapping[str, Any]


@dataclass(frozen=True)
class FollowUp:
    """The range and median of the trials' follow-up (a review column), in ``unit``."""

    low: float
    high: float
    median: float
    trials: int
    unit: str


@dataclass(frozen=True)
class AnalysisResult:
    """Every result of one configured analysis."""

    id: str
    title: str
    dataset: str
    measure: str
    measure_label: str
    measures: tuple[str, ...]
    scale: str
    model: str
    method: str
    fixed_method: str
    ci_method: str
    pi_method: str
    level: float
    higher_is: str
    events_are: str
    labels: Mapping[str, str]
    arm_labels: tuple[str, str]
    variables: Mapping[str, Mapping[str, Any]]
    studies: tuple[Study, ...]
    excluded: tuple[Excluded, ...]
    overall: Pooled | None
    not_estimable: str | None = None
    tau2_ci: Mapping[str, float | None] | None = None
    mantel_haenszel: Mapping[str, Any] | None = None
    subgroups: Mapping[str, SubgroupAnalysis] = field(default_factory=dict)
    meta_regression: Mapping[str, MetaRegression] = field(default_factory=dict)
    egger: Mapping[str, Any] | None = None
    egger_note: str | None = None
    trim_and_fill: Mapping[str, Any] | None = None
    leave_one_out: list[dict[str, Any]] | None = None
    cumulative: list[dict[str, Any]] | None = None
    sensitivity: tuple[Sensitivity, ...] = ()
    absolute: Absolute | None = None
    follow_up: FollowUp | None = None
    single_trial_nnt: Mapping[str, Any] | None = None
    dose_response: Mapping[str, Any] | None = None
    min_k_egger: int = 10
    flags: tuple[str, ...] = ()
    subgroup_order: tuple[str, ...] = ()
    moderator_order: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarkerSet:
    """Single-study outcomes reported as published (no pooling)."""

    id: str
    title: str
    markers: list[dict[str, Any]]
    kind: str = "markers"
