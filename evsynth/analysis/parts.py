"""The parts of an analysis beyond its overall estimate: subgroups, meta-regressions,
sensitivity analyses, small-study tests and absolute effects. Each calls the engine and
returns a typed result; a part that cannot be estimated says why instead of failing the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.analysis.model import (
    Absolute,
    FollowUp,
    MetaRegression,
    Sensitivity,
    SubgroupAnalysis,
    SubgroupGroup,
    jsonable,
)
from evsynth.analysis.pooled import pooled
from evsynth.analysis.select import matches
from evsynth.analysis.trials import Unit
from evsynth.analysis.words import group_label, group_order, study_label, variable
from evsynth.errors import AnalysisInputError
from evsynth.meta.absolute import nnt_from_counts, nnt_from_ratio, per_1000
from evsynth.meta.regression import meta_regression
from evsynth.meta.small_study import egger_test, trim_and_fill


def unit_value(unit: Unit, column: str) -> Any:
    """A unit's value of a review column: the rows' common value (None when they differ)."""
    values = {_hashable(c.record.get(column)) for c in unit.rows}
    return unit.record.get(column) if len(values) == 1 else None


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, list) else tuple(value)


def _between(groups: Sequence[SubgroupGroup]) -> tuple[float, int, float, float]:
    """RevMan's test for subgroup differences with separate tau² per subgroup: a fixed-effect
    Q of the subgroup estimates with weights 1/SE_g², each SE as the subgroup's CI method gives
    it (Borenstein et al. 2009, ch. 19; Cochrane Handbook §10.11.3.1)."""
    est = np.array([g.pooled.estimate for g in groups])
    w = 1.0 / np.array([g.pooled.se for g in groups]) ** 2
    mean = (w * est).sum() / w.sum()
    q = float((w * (est - mean) ** 2).sum())
    df = len(groups) - 1
    return q, df, float(stats.chi2.sf(q, df)), 100 * max(0.0, (q - df) / q) if q > 0 else 0.0


def _common_tau2_test(
    units: Sequence[Unit], labels: Sequence[str], spec: Mapping[str, Any]
) -> tuple[float, int, float, float]:
    """Omnibus test of a meta-regression on subgroup indicators with one tau² (metafor QM)."""
    frame = pd.DataFrame({"group": list(labels)})
    dummies = pd.get_dummies(frame["group"], drop_first=True, dtype=float)
    fit = meta_regression(
        [u.yi for u in units],
        [u.vi for u in units],
        dummies,
        spec["method"] if spec["model"] == "random" else "EE",
        spec["ci_method"],
        spec["level"],
    )
    q, df = fit.qm, fit.qm_df
    return q, df, fit.qm_pvalue, 100 * max(0.0, (q - df) / q) if q > 0 else 0.0


def subgroup_analysis_of(
    units: Sequence[Unit], column: str, spec: Mapping[str, Any], log_scale: bool
) -> SubgroupAnalysis:
    """The subgroups of ``column`` (units without a value are listed as missing) and the
    test for subgroup differences."""
    info = variable(column, spec["variables"])
    labelled = [(u, group_label(unit_value(u, column), info["levels"])) for u in units]
    present = [(u, g) for u, g in labelled if g is not None]
    missing = tuple(r for u, g in labelled if g is None for r in u.row_ids)
    names = group_order([g for _, g in present], info["levels"])
    groups = tuple(
        SubgroupGroup(name, pooled([u for u, g in present if g == name], spec, log_scale))
        for name in names
    )
    base = {
        "variable": column,
        "title": info["title"],
        "groups": groups,
        "tau2": spec["subgroup_tau2"],
        "missing": missing,
    }
    if len(groups) < 2:
        return SubgroupAnalysis(
            **base,
            q_between=None,
            df=None,
            p_value=None,
            i2_between=None,
            note="not estimable: fewer than two subgroups with trials",
        )
    try:
        if spec["subgroup_tau2"] == "common" and spec["model"] == "random":
            test = _common_tau2_test([u for u, _ in present], [g for _, g in present], spec)
        else:
            test = _between(groups)
    except AnalysisInputError as error:
        return SubgroupAnalysis(
            **base,
            q_between=None,
            df=None,
            p_value=None,
            i2_between=None,
            note=f"not estimable: {error}",
        )
    q, df, p, i2 = test
    return SubgroupAnalysis(**base, q_between=q, df=df, p_value=p, i2_between=i2)


def regression_of(units: Sequence[Unit], column: str, spec: Mapping[str, Any]) -> MetaRegression:
    """Meta-regression on one moderator: numeric, or categorical (indicators; omnibus QM)."""
    info = variable(column, spec["variables"])
    base = {"variable": column, "title": info["title"], "unit": info["unit"], "per": info["per"]}
    values = [unit_value(u, column) for u in units]
    keep = [i for i, v in enumerate(values) if v is not None]
    numeric = all(
        isinstance(values[i], int | float) and not isinstance(values[i], bool) for i in keep
    )
    x: Any
    if numeric:
        x = np.array([float(values[i]) for i in keep])
        distinct = np.unique(x).size
    else:
        labels = [str(group_label(values[i], info["levels"])) for i in keep]
        x = pd.get_dummies(pd.Series(labels), drop_first=True, dtype=float)
        distinct = len(set(labels))
    if len(keep) < 3 or distinct < 2:
        return MetaRegression(
            **base,
            k=len(keep),
            categorical=not numeric,
            note=(
                f"not estimable: {len(keep)} trials with a value and {distinct} distinct values "
                "(needs at least 3 trials and 2 values)"
            ),
        )
    chosen = [units[i] for i in keep]
    try:
        fit = meta_regression(
            [u.yi for u in chosen],
            [u.vi for u in chosen],
            x,
            spec["method"] if spec["model"] == "random" else "EE",
            spec["ci_method"],
            spec["level"],
            names=["intercept", column] if numeric else None,
        )
    except AnalysisInputError as error:
        return MetaRegression(
            **base, k=len(keep), categorical=not numeric, note=f"not estimable: {error}"
        )
    return MetaRegression(
        **base,
        names=tuple(fit.names),
        coef=tuple(fit.coef),
        se=tuple(fit.se),
        ci_low=tuple(fit.ci_low),
        ci_high=tuple(fit.ci_high),
        p_value=tuple(fit.p_value),
        vcov=tuple(tuple(r) for r in np.asarray(fit.vcov)),
        qm=fit.qm,
        qm_df=fit.qm_df,
        qm_df_residual=fit.qm_df_residual,
        qm_pvalue=fit.qm_pvalue,
        tau2=fit.tau2,
        r2=fit.r2,
        i2=fit.i2,
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_pvalue=fit.qe_pvalue,
        k=fit.k,
        method=fit.method,
        ci_method=fit.ci_method,
        level=fit.level,
        row_ids=tuple(r for u in chosen for r in u.row_ids),
        categorical=not numeric,
    )


def sensitivity_of(
    units: Sequence[Unit], spec: Mapping[str, Any], log_scale: bool
) -> tuple[Sensitivity, ...]:
    """Each configured sensitivity analysis: a subset of the trials and/or another model."""
    out = []
    for item in spec.get("sensitivity") or []:
        chosen = [
            u for u in units if all(matches(c.record, item.get("where") or {}) for c in u.rows)
        ]
        if item.get("input") == "counts":
            chosen = [u for u in chosen if u.input in ("2x2", "means")]
        elif item.get("input") == "estimates":
            chosen = [u for u in chosen if u.input == "generic"]
        overrides = {
            k: item[k] for k in ("model", "method", "fixed_method", "ci_method") if k in item
        }
        if not chosen:
            out.append(Sensitivity(item["title"], None, "not estimable: no trial meets it"))
            continue
        try:
            out.append(Sensitivity(item["title"], pooled(chosen, spec, log_scale, **overrides)))
        except AnalysisInputError as error:
            out.append(Sensitivity(item["title"], None, f"not estimable: {error}"))
    return tuple(out)


def small_study(
    units: Sequence[Unit], spec: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
    """Egger's test and trim-and-fill, computed only from ``min_k_egger`` trials (with fewer
    the test has too little power to tell asymmetry from chance; Sterne et al. 2011, BMJ
    343:d4002)."""
    k = len(units)
    if k < spec["min_k_egger"]:
        trials = "1 trial" if k == 1 else f"{k} trials"
        return None, None, f"not assessed: {trials} (Egger's test needs {spec['min_k_egger']})"
    yi, vi = [u.yi for u in units], [u.vi for u in units]
    method = spec["method"] if spec["model"] == "random" else "EE"
    try:
        egger = {**jsonable(egger_test(yi, vi)), "k": k}
        fill = jsonable(trim_and_fill(yi, vi, method=method))
    except AnalysisInputError as error:
        return None, None, f"not estimable: {error}"
    return egger, fill, None


def _control_risk(units: Sequence[Unit], spec: Mapping[str, Any]) -> tuple[float, str] | None:
    given = spec.get("control_risk") or {"from": "median"}
    if "value" in given:
        return float(given["value"]), str(given["source"])
    risks = [
        float(u.counts["events_control"]) / float(u.counts["n_control"])
        for u in units
        if u.input == "2x2" and u.counts.get("n_control")
    ]
    if not risks:
        return None
    value = float(np.median(risks) if given["from"] == "median" else np.mean(risks))
    if not 0.0 < value < 1.0:  # no events (or only events) in the controls: no risk to apply
        return None
    trials = "1 included trial" if len(risks) == 1 else f"{len(risks)} included trials"
    return value, f"{given['from']} control-group risk of {trials} with counts"


def absolute_of(
    units: Sequence[Unit], overall: Any, spec: Mapping[str, Any], measures: Sequence[str]
) -> Absolute | None:
    """Risks per 1000 and the risk difference per 1000 at the assumed control risk."""
    if spec["measure"] not in ("RR", "OR", "HR") or overall is None:
        return None
    found = _control_risk(units, spec)
    if found is None:
        return None
    risk, source = found
    measure = "HR" if set(measures) == {"HR"} else spec["measure"]
    nnt = nnt_from_ratio(
        math.exp(overall.estimate),
        math.exp(overall.ci_low),
        math.exp(overall.ci_high),
        risk,
        measure=measure,
        events_are="harmful" if spec["higher_is"] == "worse" else "beneficial",
    )
    low, high = sorted((nnt.rd_ci_low, nnt.rd_ci_high))
    return Absolute(
        control_risk=risk,
        control_risk_source=source,
        per_1000_control=per_1000(risk),
        per_1000_treat=per_1000(risk + nnt.risk_difference),
        per_1000_treat_ci=(per_1000(risk + low), per_1000(risk + high)),
        difference_per_1000=per_1000(nnt.risk_difference),
        difference_per_1000_ci=(per_1000(low), per_1000(high)),
        nnt=jsonable(nnt),
    )


def follow_up_of(units: Sequence[Unit], review: Mapping[str, Any]) -> FollowUp | None:
    """Range and median of the trials' follow-up (the review's ``follow_up`` column)."""
    column = review.get("follow_up")
    if not column:
        return None
    by_trial = {u.trial: unit_value(u, column) for u in units}
    values = [float(v) for v in by_trial.values() if isinstance(v, int | float)]
    if not values:
        return None
    return FollowUp(
        min(values),
        max(values),
        float(np.median(values)),
        len(values),
        str(review.get("follow_up_unit") or ""),
    )


def single_trial_nnt(units: Sequence[Unit], spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """NNT/NNH of one named trial from its own 2×2 table (Altman 1998): one trial's figure,
    labelled as such, never the pooled one."""
    trial = spec.get("nnt_trial")
    match = [u for u in units if trial in (u.trial, u.record.get("study_id")) and u.input == "2x2"]
    if not trial or not match:
        return None
    unit = match[0]
    a, n1, c, n2 = (
        float(unit.counts[k]) for k in ("events_treat", "n_treat", "events_control", "n_control")
    )
    result = nnt_from_counts(
        a,
        n1,
        c,
        n2,
        level=spec["level"],
        events_are="harmful" if spec["higher_is"] == "worse" else "beneficial",
    )
    follow = spec["review"].get("follow_up")
    return {
        **jsonable(result),
        "row_id": unit.row_ids[0],
        "study_id": trial,
        "follow_up_years": jsonable(unit.record.get(follow)) if follow else None,
    }


def _curve_doses(spec: Mapping[str, Any], doses: Sequence[float]) -> list[float]:
    """The doses at which the curve is tabulated: the configured ones, else 41 points from 0
    to the largest dose."""
    if spec.get("doses"):
        return [float(d) for d in spec["doses"]]
    top = max(doses)
    return [top * i / 40 for i in range(41)]


def _dose_trials(
    units: Sequence[Unit], config: Mapping[str, Any], title: str
) -> tuple[list[tuple[Unit, float]], list[tuple[Unit, str]]]:
    """The trials a dose–response model takes (a 2×2 table and a positive dose, inside the
    model's filter) and those it leaves out, with the reason."""
    chosen, left_out = [], []
    for unit in units:
        dose = unit_value(unit, config["variable"])
        if not all(matches(c.record, config.get("where") or {}) for c in unit.rows):
            left_out.append((unit, f"outside the model's filter {dict(config['where'])}"))
        elif unit.input != "2x2":
            left_out.append((unit, "entered as a published estimate (the model needs counts)"))
        elif not isinstance(dose, int | float) or isinstance(dose, bool) or dose <= 0:
            left_out.append((unit, f"no positive {title.lower()}"))
        else:
            chosen.append((unit, float(dose)))
    return chosen, left_out


def _dose_points(
    chosen: Sequence[tuple[Unit, float]], spec: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each trial's RR and CI at its dose, with its share of the inverse-variance weight."""
    z = float(stats.norm.ppf(0.5 + spec["level"] / 2))
    total = sum(1.0 / u.vi for u, _ in chosen)
    return [
        {
            "label": study_label(u.record, spec["review"]),
            "trial": u.trial,
            "dose": d,
            "rr": math.exp(u.yi),
            "ci_low": math.exp(u.yi - z * math.sqrt(u.vi)),
            "ci_high": math.exp(u.yi + z * math.sqrt(u.vi)),
            "weight_pct": 100 * (1.0 / u.vi) / total,
            "row_ids": list(u.row_ids),
        }
        for u, d in chosen
    ]


def dose_response_of(units: Sequence[Unit], spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The one-stage dose–response model (:func:`evsynth.dose_response`) of the trials with a
    2×2 table and a dose, kept to the configured ``where`` (e.g. daily dosing only): its
    coefficients, heterogeneity, the curve with its CI and the trials' points; or why it
    could not be fitted."""
    from evsynth.meta.dose_response import dose_response

    config = spec.get("dose_response")
    if not config:
        return None
    info = variable(config["variable"], spec["variables"])
    chosen, left_out = _dose_trials(units, config, info["title"])
    base = {
        "variable": config["variable"],
        "title": info["title"],
        "unit": info["unit"],
        "per": info["per"],
        "model": config.get("model", "linear"),
        "where": dict(config.get("where") or {}),
        "excluded": [{"row_ids": list(u.row_ids), "reason": r} for u, r in left_out],
    }
    counts = ("events_treat", "n_treat", "events_control", "n_control")
    table = pd.DataFrame(
        {
            "study_id": [u.trial for u, _ in chosen],
            "dose": [d for _, d in chosen],
            **{k: [float(u.counts[k]) for u, _ in chosen] for k in counts},
        }
    )
    try:
        fit = dose_response(table, "dose", base["model"], config.get("knots"), "REML")
    except AnalysisInputError as error:
        return {**base, "k": len(chosen), "note": f"not estimable: {error}"}
    curve = fit.predict(_curve_doses(config, [d for _, d in chosen]), spec["level"])
    return {
        **base,
        "k": fit.k_studies,
        "rows": fit.n_rows,
        "names": list(fit.names),
        "coef": fit.coef.tolist(),
        "se": fit.se.tolist(),
        "vcov": fit.vcov.tolist(),
        "tau2": fit.tau2.tolist(),
        "knots": None if fit.knots is None else fit.knots.tolist(),
        "nonlinear_pvalue": jsonable(fit.nonlinear_pvalue),
        "converged": fit.converged,
        "curve": jsonable(curve[["dose", "rr", "ci_low", "ci_high"]]),
        "points": _dose_points(chosen, spec),
        "note": None,
    }
