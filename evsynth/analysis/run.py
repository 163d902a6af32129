"""Run the configured analyses of one dataset: from processed rows to typed results.

This module only orchestrates: it chooses the rows that enter (:mod:`.select`), turns the
rows of each trial into one estimate (:mod:`.trials`), pools them as configured
(:mod:`.pooled`) and adds the parts of the analysis (:mod:`.parts`: subgroups,
meta-regressions, sensitivity analyses, small-study tests, absolute effects). It computes
no statistic of its own. The layout of the results is :mod:`.model` (``docs/results.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.analysis import parts
from evsynth.analysis.model import AnalysisResult, MarkerSet, Pooled, Study, jsonable
from evsynth.analysis.pooled import pooled
from evsynth.analysis.select import PROVENANCE, excluded, matches, records, select_rows
from evsynth.analysis.trials import Unit, trial_units
from evsynth.analysis.words import (
    RATIOS,
    arm_labels,
    favours,
    measure_label,
    study_label,
    variable,
)
from evsynth.errors import AnalysisInputError, NotEstimableError
from evsynth.meta.fixed_effects import mantel_haenszel
from evsynth.meta.heterogeneity import tau2_ci
from evsynth.meta.pooling import FIELDS as POOL_FIELDS
from evsynth.meta.sensitivity import cumulative, leave_one_out
from evsynth.parallel import map_ordered
from evsynth.validate.config import BINARY


def analysis_specs(config: Mapping[str, Any], dataset: str) -> list[dict[str, Any]]:
    """The resolved settings of every analysis of ``dataset``, each with its ``id``, the
    review's words and the titles of its variables."""
    return [
        {**spec, "id": name, "review": config["review"], "variables": config["variables"]}
        for name, spec in sorted(config["analyses"].items())
        if spec["dataset"] == dataset
    ]


def _columns_shown(spec: Mapping[str, Any]) -> list[str]:
    """The review columns carried with every study: its variables, subgroups, moderators, the
    dose and follow-up columns, year, provenance."""
    dr = spec.get("dose_response") or {}
    names = [
        "year",
        "trial_name",
        *spec["variables"],
        *spec["subgroups"],
        *spec["moderators"],
        *([dr["variable"]] if dr else []),
        spec["review"].get("follow_up"),
        *PROVENANCE,
        "count_unit",
        "comparison",
    ]
    return [n for n in dict.fromkeys(names) if n]


def _ordered(units: list[Unit]) -> list[Unit]:
    def key(u: Unit) -> tuple[float, str, str]:
        year = u.record.get("year")
        return (
            float(year) if isinstance(year, int | float) else math.inf,
            str(u.record.get("study_id")),
            u.row_ids[0],
        )

    return sorted(units, key=key)


def _study(unit: Unit, spec: Mapping[str, Any], weight: float, z: float, log: bool) -> Study:
    half = z * math.sqrt(unit.vi)
    record = unit.record
    columns = {c: parts.unit_value(unit, c) for c in _columns_shown(spec)}
    comparisons = [str(c.record.get("comparison")) for c in unit.rows if c.record.get("comparison")]
    published = {}
    if unit.input == "generic" and len(unit.rows) == 1:
        published = {
            "measure": record.get("effect_measure"),
            "effect": record.get("effect"),
            "ci_low": record.get("ci_low"),
            "ci_high": record.get("ci_high"),
        }
    return Study(
        row_id=unit.row_ids[0],
        row_ids=unit.row_ids,
        study_id=str(record["study_id"]),
        trial=unit.trial,
        label=study_label(record, spec["review"]),
        comparison="; ".join(comparisons) or None,
        input=unit.input,
        measure=unit.measure,
        yi=unit.yi,
        vi=unit.vi,
        ci_low=unit.yi - half,
        ci_high=unit.yi + half,
        weight_pct=weight,
        combined=unit.combined,
        flags=unit.flags,
        counts={k: v for k, v in unit.counts.items() if v is not None},
        published=published,
        columns=columns,
        risk_of_bias=_risk_of_bias(unit, spec["review"].get("risk_of_bias") or {}),
        log_scale=log,
    )


def _risk_of_bias(unit: Unit, columns: Mapping[str, str]) -> dict[str, Any]:
    """The trial's risk-of-bias judgements from the review's columns (``review.risk_of_bias``);
    attrition as a fraction."""
    out: dict[str, Any] = {}
    for key, column in columns.items():
        value = parts.unit_value(unit, column)
        if value is None:
            continue
        if key == "attrition_pct":
            out["attrition"] = float(value) / 100
        else:
            out[key] = value
    return out


def _labels_distinct(studies: list[Study]) -> list[Study]:
    """A trial that enters as several comparisons (a split control) is told apart by its
    comparison's label."""
    seen: dict[str, int] = {}
    for s in studies:
        seen[s.label] = seen.get(s.label, 0) + 1
    out = []
    for s in studies:
        if seen[s.label] > 1 and s.comparison:
            s = Study(**{**s.__dict__, "label": f"{s.label} ({s.comparison})"})
        out.append(s)
    return out


def _trials(units: list[Unit]) -> str:
    return "1 trial" if len(units) == 1 else f"{len(units)} trials"


def _weights(units: list[Unit], overall: Pooled) -> np.ndarray:
    vi = np.array([u.vi for u in units])
    w = 1.0 / (vi + (overall.tau2 if overall.model == "random" else 0.0))
    return 100.0 * w / w.sum()


def _heterogeneity_extras(units: list[Unit], spec: Mapping[str, Any], log: bool) -> dict[str, Any]:
    """tau² CI and, for a random-effects 2×2 analysis, the Mantel–Haenszel estimate beside it."""
    out: dict[str, Any] = {}
    yi, vi = [u.yi for u in units], [u.vi for u in units]
    if len(units) >= 2 and spec["model"] == "random":
        low, high = tau2_ci(yi, vi, method=spec["method"], level=spec["level"])
        out["tau2_ci"] = {"low": jsonable(low), "high": jsonable(high)}
    if spec["measure"] in BINARY and all(u.input == "2x2" for u in units):
        tables = [t for u in units for t in u.tables()]
        a, n1, c, n2 = (
            np.array([float(t[k]) for t in tables])
            for k in ("events_treat", "n_treat", "events_control", "n_control")
        )
        try:
            mh = jsonable(
                mantel_haenszel(a, n1, c, n2, measure=spec["measure"], level=spec["level"])
            )
        except AnalysisInputError:
            mh = None
        if mh is not None and log:
            mh.update({f"{k}_exp": math.exp(mh[k]) for k in ("estimate", "ci_low", "ci_high")})
        out["mantel_haenszel"] = mh
    return out


def _sequential(units: list[Unit], labels: list[str], spec: Mapping[str, Any]) -> dict:
    """Leave-one-out (k ≥ 3) and cumulative (k ≥ 2, by year) analyses with the model's
    settings: one batch for random effects and inverse variance; Mantel–Haenszel and Peto
    refitted on each subset (metafor ``leave1out.rma.mh`` / ``cumul.rma.mh``)."""
    k = len(units)
    years = [u.record.get("year") for u in units]
    order = None if any(y is None for y in years) else [float(cast(Any, y)) for y in years]
    out: dict[str, Any] = {}
    if spec["model"] == "fixed" and spec["fixed_method"] in ("MH", "Peto"):
        sequence = list(range(k)) if order is None else sorted(range(k), key=lambda i: order[i])
        if k >= 3:
            out["leave_one_out"] = [
                {"label": labels[i], **_fixed_row([u for j, u in enumerate(units) if j != i], spec)}
                for i in range(k)
            ]
        if k >= 2:
            out["cumulative"] = [
                {"label": labels[i], **_fixed_row([units[j] for j in sequence[: n + 1]], spec)}
                for n, i in enumerate(sequence)
            ]
        return out
    random = spec["model"] == "random"
    common = {
        "method": spec["method"] if random else "EE",
        "ci_method": spec["ci_method"] if random else "z",
        "level": spec["level"],
    }
    yi, vi = [u.yi for u in units], [u.vi for u in units]
    if k >= 3:
        out["leave_one_out"] = jsonable(leave_one_out(yi, vi, labels=labels, **common))
    if k >= 2:
        out["cumulative"] = jsonable(cumulative(yi, vi, order=order, labels=labels, **common))
    return out


def _fixed_row(units: list[Unit], spec: Mapping[str, Any]) -> dict[str, Any]:
    """One leave-one-out or cumulative row of a Mantel–Haenszel or Peto analysis."""
    values = pooled(units, spec, log_scale=False).to_json()
    return {key: values[key] for key in POOL_FIELDS}


def _base(spec: Mapping[str, Any], measures: Iterable[str]) -> dict[str, Any]:
    measure = spec["measure"]
    found = tuple(sorted(set(measures), key=lambda m: (m != measure, m))) or (measure,)
    dr = spec.get("dose_response")
    names = list(
        dict.fromkeys(
            [
                *spec["subgroups"],
                *spec["moderators"],
                *([dr["variable"]] if dr else []),
                *spec["variables"],
            ]
        )
    )
    return {
        "id": spec["id"],
        "title": spec["title"],
        "dataset": spec["dataset"],
        "measure": measure,
        "measure_label": measure_label(found, measure),
        "measures": found,
        "scale": "log" if measure in RATIOS else "identity",
        "model": spec["model"],
        "method": spec["method"],
        "fixed_method": spec["fixed_method"],
        "ci_method": spec["ci_method"],
        "pi_method": spec["pi_method"],
        "level": spec["level"],
        "higher_is": spec["higher_is"],
        "events_are": "harmful" if spec["higher_is"] == "worse" else "beneficial",
        "labels": favours(spec["review"], spec["higher_is"]),
        "arm_labels": arm_labels(spec["review"]),
        "variables": {c: variable(c, spec["variables"]) for c in names},
        "min_k_egger": spec["min_k_egger"],
        "subgroup_order": tuple(spec["subgroups"]),
        "moderator_order": tuple(spec["moderators"]),
    }


def run_analysis(rows: pd.DataFrame, spec: Mapping[str, Any]) -> AnalysisResult:
    """Every result of one configured analysis (``spec``: see :func:`analysis_specs`).

    Raises :class:`AnalysisInputError` when no row of the dataset passes the analysis's
    filter (a misspelt outcome, say); when rows pass but none can be analysed, the result
    says why (``not_estimable``) and the report shows it."""
    chosen, left_out = select_rows(rows, spec)
    if not chosen and not left_out:
        raise AnalysisInputError(
            f"analysis {spec['id']!r}: no row of {spec['dataset']} matches its filter "
            f"{dict(spec.get('where') or {})}; check the analysis's where: setting"
        )
    units, dropped = trial_units(chosen, spec)
    left_out += [excluded(row.record, reason) for row, reason in dropped]
    base = _base(spec, [u.measure for u in units])
    log = base["scale"] == "log"
    if not units:
        reasons = "; ".join(sorted({e.reason for e in left_out}))
        return AnalysisResult(
            **base,
            studies=(),
            excluded=tuple(left_out),
            overall=None,
            not_estimable=f"no trial can be analysed ({reasons})",
        )
    units = _ordered(units)
    try:
        overall = pooled(units, spec, log)
    except NotEstimableError as error:  # valid rows, no estimate (e.g. no events anywhere)
        return AnalysisResult(
            **base,
            studies=(),
            excluded=tuple(left_out),
            overall=None,
            not_estimable=f"the pooled estimate cannot be computed from {_trials(units)}: {error}",
        )
    z = float(stats.norm.ppf(0.5 + spec["level"] / 2))
    studies = _labels_distinct(
        [_study(u, spec, w, z, log) for u, w in zip(units, _weights(units, overall), strict=True)]
    )
    egger, fill, egger_note = parts.small_study(units, spec)
    flags = tuple(dict.fromkeys(f for u in units for f in u.flags))
    return AnalysisResult(
        **base,
        studies=tuple(studies),
        excluded=tuple(left_out),
        overall=overall,
        **_heterogeneity_extras(units, spec, log),
        subgroups={c: parts.subgroup_analysis_of(units, c, spec, log) for c in spec["subgroups"]},
        meta_regression={c: parts.regression_of(units, c, spec) for c in spec["moderators"]},
        egger=egger,
        egger_note=egger_note,
        trim_and_fill=fill,
        **_sequential(units, [s.label for s in studies], spec),
        sensitivity=parts.sensitivity_of(units, spec, log),
        absolute=parts.absolute_of(units, overall, spec, base["measures"]),
        follow_up=parts.follow_up_of(units, spec["review"]),
        single_trial_nnt=parts.single_trial_nnt(units, spec),
        dose_response=parts.dose_response_of(units, spec) if log else None,
        flags=flags,
    )


def run_markers(rows: pd.DataFrame, spec: Mapping[str, Any]) -> MarkerSet:
    """Single-trial outcomes as published, with the consistency checks a reader needs.

    No pooling: each marker is one trial's between-group comparison. Two derived values are
    given under names that state their formula, never in place of published numbers:
    ``difference_of_changes = change_treat − change_control`` and the flag
    ``published_ci_excludes_estimate`` (the printed estimate lies outside its printed CI).
    """
    markers = []
    for record in records(rows.sort_values(["row_id"], kind="stable")):
        if not matches(record, spec.get("where") or {}):
            continue
        entry = jsonable(record)
        treat: Any = record.get("change_treat")
        control: Any = record.get("change_control")
        both = treat is not None and control is not None
        entry["difference_of_changes"] = float(treat) - float(control) if both else None
        md, low, high = (
            cast(Any, record.get(c)) for c in ("mean_difference", "md_ci_low", "md_ci_high")
        )
        entry["published_ci_excludes_estimate"] = (
            not (float(low) <= float(md) <= float(high)) if None not in (md, low, high) else None
        )
        markers.append(entry)
    return MarkerSet(spec["id"], spec["title"], markers)


def _run_analysis_task(task: tuple[pd.DataFrame, dict[str, Any]]) -> dict[str, Any]:
    return jsonable(run_analysis(*task))


def run_dataset(
    dataset: str, rows: pd.DataFrame, config: Mapping[str, Any], *, workers: int = 1
) -> dict[str, Any]:
    """All analyses and marker sets of ``config`` that read ``dataset``, as JSON values.

    ``workers`` > 1 runs the analyses in that many processes (:func:`evsynth.parallel.map_ordered`);
    the results are the same as a serial run's."""
    tasks = [(rows, spec) for spec in analysis_specs(config, dataset)]
    analyses = map_ordered(_run_analysis_task, tasks, workers)
    markers = [
        jsonable(run_markers(rows, {**spec, "id": name}))
        for name, spec in sorted(config.get("markers", {}).items())
        if spec["dataset"] == dataset
    ]
    return {"dataset": dataset, "analyses": analyses, "markers": markers}


SUMMARY_COLUMNS = [
    "analysis",
    "subgroup",
    "group",
    "k",
    "trials",
    "participants",
    "estimate",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "p_value",
    "tau2",
    "i2",
    "pi_low_exp",
    "pi_high_exp",
    "row_ids",
]


def summary_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per analysis and subgroup level: the numbers "what changed" compares."""
    records_out = []
    for analysis in results["analyses"]:
        blocks = []
        if analysis["overall"] is not None:
            blocks.append(("overall", "all", analysis["overall"]))
        for column, sub in (analysis.get("subgroups") or {}).items():
            blocks += [(column, g["group"], g) for g in sub["groups"]]
        for subgroup, group, res in blocks:
            record = {"analysis": analysis["id"], "subgroup": subgroup, "group": group}
            for column in SUMMARY_COLUMNS[3:-1]:
                record[column] = res.get(column)
            record["row_ids"] = ";".join(res.get("row_ids") or [])
            records_out.append(record)
    frame = pd.DataFrame(records_out, columns=SUMMARY_COLUMNS)
    for column in ("k", "trials", "participants"):
        frame[column] = frame[column].astype("Int64")
    return frame
