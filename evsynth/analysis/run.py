"""Run the configured analyses of one dataset: from processed rows to a results dict.

This module only orchestrates: it chooses each study's effect (2×2 table or published
estimate), calls the engine (pooling, subgroups, meta-regression, small-study tests,
sensitivity analyses, absolute effects) and arranges the numbers in the layout documented in
``docs/results.md``. It computes no statistic of its own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.errors import AnalysisInputError
from evsynth.meta.absolute import nnt_from_counts, nnt_from_ratio, per_1000
from evsynth.meta.effects import binary_effects, generic_effects
from evsynth.meta.fixed_effects import mantel_haenszel
from evsynth.meta.heterogeneity import tau2_ci
from evsynth.meta.pooling import pool
from evsynth.meta.regression import meta_regression
from evsynth.meta.sensitivity import cumulative, leave_one_out
from evsynth.meta.small_study import egger_test, trim_and_fill
from evsynth.meta.subgroups import subgroup_analysis
from evsynth.parallel import map_ordered

#: Published estimates that may enter an analysis of each measure (a hazard or rate ratio is
#: treated as a risk ratio, as the Cochrane Handbook allows for generic inverse variance).
COMPATIBLE_ESTIMATES: dict[str, frozenset[str]] = {
    "RR": frozenset({"RR", "HR", "IRR"}),
    "OR": frozenset({"OR"}),
    "RD": frozenset({"RD"}),
}
PROVENANCE_FIELDS = ("source_url", "doi_or_pmid", "quote")
RATIO_MEASURES = frozenset({"RR", "OR", "HR", "IRR"})
COUNT_COLUMNS = ["events_treat", "n_treat", "events_control", "n_control"]
STUDY_FIELDS = [
    "row_id",
    "study_id",
    "comparison",
    "year",
    "events_treat",
    "n_treat",
    "events_control",
    "n_control",
    "count_unit",
    "effect_measure",
    "effect",
    "daily_equivalent_iu",
    "dose_band",
    "vitamin_d_form",
    "calcium_coadministered",
    "blinding",
    "design",
    "follow_up_years",
    "source_url",
    "doi_or_pmid",
    "quote",
]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict(orient="records")``: the same plain Python values (``tolist`` boxes
    them as ``to_dict`` does), without its per-call overhead, which dominated the many small
    frames of an analysis."""
    names = [str(c) if not isinstance(c, str) else c for c in frame.columns]
    columns = [column.tolist() for _, column in frame.items()]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _clean(value: Any) -> Any:
    """Turn numpy scalars, arrays and NaN into plain JSON values (NaN and None → None)."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _clean({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, pd.DataFrame):
        return [_clean(r) for r in _records(value)]
    if isinstance(value, np.ndarray | list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(value) else float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _exp_fields(result: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``*_exp`` copies of ``keys`` for ratio measures on the log scale."""
    out: dict[str, Any] = {}
    for key in keys:
        value = result.get(key)
        out[f"{key}_exp"] = None if value is None else math.exp(value)
    return out


def study_label(study_id: str) -> str:
    """Readable label from an id such as ``Chapuy1992`` → ``Chapuy 1992``."""
    for i, char in enumerate(study_id):
        if char.isdigit():
            head, tail = study_id[:i], study_id[i:]
            year, rest = tail[:4], tail[4:].lstrip("_")
            return f"{head} {year}" + (f" ({rest})" if rest else "")
    return study_id


def study_labels(studies: pd.DataFrame) -> list[str]:
    """Labels for the studies of one analysis; a trial entered as several comparisons (for
    example per allocation stratum) is told apart by its comparison's qualifier."""
    repeated = studies["study_id"].duplicated(keep=False)
    labels = []
    for study_id, comparison, twice in zip(
        studies["study_id"], studies["comparison"], repeated, strict=True
    ):
        label = study_label(study_id)
        if twice:
            qualifier = comparison.split("(", 1)[1].rstrip(")") if "(" in comparison else comparison
            label = f"{label} ({qualifier})"
        labels.append(label)
    return labels


def _has_counts(row: Mapping[str, Any]) -> bool:
    return all(pd.notna(row.get(c)) for c in COUNT_COLUMNS) and row.get("count_unit") == "persons"


def _has_estimate(row: Mapping[str, Any]) -> bool:
    return all(pd.notna(row.get(c)) for c in ("effect", "ci_low", "ci_high")) and pd.notna(
        row.get("effect_measure")
    )


def select_studies(rows: pd.DataFrame, measure: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Split an outcome's rows into the studies that enter the analysis and those left out.

    A row enters when it is marked ``include`` and has either four person counts (a 2×2
    table) or a published estimate of a compatible measure with its 95% CI.
    """
    chosen: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for record in _records(rows):
        reason = None
        if not record.get("include", False):
            reason = record.get("exclusion_reason") or "marked include = false"
        elif _has_counts(record):
            record["input"] = "2x2"
        elif _has_estimate(record) and record["effect_measure"] in COMPATIBLE_ESTIMATES[measure]:
            record["input"] = "generic"
        elif _has_estimate(record):
            reason = f"published {record['effect_measure']} cannot enter a {measure} analysis"
        else:
            reason = "neither four person counts nor a published estimate with its 95% CI"
        if reason is None:
            chosen.append(record)
        else:
            excluded.append(
                {
                    "row_id": record["row_id"],
                    "study_id": record["study_id"],
                    "reason": reason,
                    **{key: _clean(record.get(key)) for key in PROVENANCE_FIELDS},
                }
            )
    frame = pd.DataFrame(chosen)
    if not frame.empty:
        frame = frame.sort_values(["year", "study_id", "row_id"], kind="stable")
        frame = frame.reset_index(drop=True)
    return frame, excluded


def study_effects(studies: pd.DataFrame, measure: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Effect and sampling variance per study: escalc on 2×2 rows, generic IV on the rest."""
    yi = np.full(len(studies), np.nan)
    vi = np.full(len(studies), np.nan)
    is_2x2 = (studies["input"] == "2x2").to_numpy()
    if is_2x2.any():
        a, n1, c, n2 = studies.loc[is_2x2, COUNT_COLUMNS].astype(float).to_numpy().T
        yi[is_2x2], vi[is_2x2] = binary_effects(a, n1, c, n2, measure=measure)
    for i in np.flatnonzero(~is_2x2):
        row = studies.iloc[i]
        est = generic_effects(
            [float(row["effect"])],
            [float(row["ci_low"])],
            [float(row["ci_high"])],
            measure=str(row["effect_measure"]),
        )
        yi[i], vi[i] = est.yi[0], est.vi[0]
    if not (np.isfinite(yi).all() and np.isfinite(vi).all() and (vi > 0).all()):
        raise AnalysisInputError(f"analysis {name!r}: a study has no finite effect or variance")
    return yi, vi


def _pool_dict(result: Any, log_scale: bool) -> dict[str, Any]:
    out = _clean(result)
    if log_scale:
        out.update(_exp_fields(out, ["estimate", "ci_low", "ci_high", "pi_low", "pi_high"]))
    return out


def _subgroups(
    studies: pd.DataFrame,
    yi: np.ndarray,
    vi: np.ndarray,
    spec: Mapping[str, Any],
    titles: Mapping[str, str],
    log_scale: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in spec["subgroups"]:
        if column not in studies:
            raise AnalysisInputError(
                f"analysis {spec['id']!r}: subgroup column {column!r} is not in the data"
            )
        labels = studies[column].map(_group_label)
        if labels.isna().any() or labels.nunique() < 2:
            continue
        result = subgroup_analysis(
            yi,
            vi,
            labels.to_numpy(),
            method=spec["method"],
            ci_method=spec["ci_method"],
            tau2=spec["subgroup_tau2"],
            level=spec["level"],
        )
        groups = []
        for record in _records(result.groups):
            members = studies.loc[labels == record["group"], "row_id"].tolist()
            groups.append({**_pool_dict(record, log_scale), "row_ids": members})
        out[column] = {
            "title": titles.get(column, column),
            "groups": groups,
            "q_between": _clean(result.q_between),
            "df": _clean(result.df),
            "p_value": _clean(result.p_value),
            "tau2": spec["subgroup_tau2"],
        }
    return out


def _group_label(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _regressions(
    studies: pd.DataFrame, yi: np.ndarray, vi: np.ndarray, spec: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in spec["moderators"]:
        if column not in studies:
            raise AnalysisInputError(
                f"analysis {spec['id']!r}: moderator column {column!r} is not in the data"
            )
        x = pd.to_numeric(studies[column], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(x)
        if keep.sum() < 3 or np.unique(x[keep]).size < 2:
            continue
        result = meta_regression(
            yi[keep],
            vi[keep],
            x[keep],
            method=spec["method"],
            ci_method=spec["ci_method"],
            level=spec["level"],
            names=["intercept", column],
        )
        out[column] = {**_clean(result), "row_ids": studies.loc[keep, "row_id"].tolist()}
    return out


def _absolute(
    studies: pd.DataFrame, overall: Mapping[str, Any], spec: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Absolute effect of the pooled ratio at an assumed control risk (GRADE SoF)."""
    if spec["measure"] not in ("RR", "OR") or overall.get("estimate") is None:
        return None
    if "control_risk" in spec:
        risk = float(spec["control_risk"])
        source = "assumed control risk set in the config"
    else:
        counted = studies[studies["input"] == "2x2"]
        if counted.empty:
            return None
        risks = counted["events_control"].astype(float) / counted["n_control"].astype(float)
        risk = float(np.median(risks))
        source = f"median control-group risk of {len(counted)} included trials with counts"
    nnt = nnt_from_ratio(
        overall["estimate_exp"],
        overall["ci_low_exp"],
        overall["ci_high_exp"],
        risk,
        measure=spec["measure"],
        events_are=spec["events_are"],
    )
    return {
        "control_risk": risk,
        "control_risk_source": source,
        "per_1000_control": _clean(per_1000(risk)),
        "per_1000_treat": _clean(per_1000(risk + nnt.risk_difference)),
        "per_1000_treat_ci": [
            _clean(per_1000(risk + nnt.rd_ci_low)),
            _clean(per_1000(risk + nnt.rd_ci_high)),
        ],
        "nnt": _clean(nnt),
    }


def _single_trial_nnt(studies: pd.DataFrame, spec: Mapping[str, Any]) -> dict[str, Any] | None:
    trial = spec.get("nnt_trial")
    if not trial:
        return None
    match = studies[(studies["study_id"] == trial) & (studies["input"] == "2x2")]
    if match.empty:
        return None
    row = match.iloc[0]
    a, n1, c, n2 = (float(row[column]) for column in COUNT_COLUMNS)
    result = nnt_from_counts(
        a,
        n1,
        c,
        n2,
        level=spec["level"],
        events_are=spec["events_are"],
    )
    return {
        **_clean(result),
        "row_id": row["row_id"],
        "study_id": trial,
        "follow_up_years": _clean(row.get("follow_up_years")),
    }


def run_analysis(
    rows: pd.DataFrame, spec: Mapping[str, Any], titles: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every result of one configured analysis (layout: ``docs/results.md``)."""
    name = spec["id"]
    measure = spec["measure"]
    log_scale = measure in RATIO_MEASURES
    outcome_rows = rows[rows["outcome"] == spec["outcome"]]
    studies, excluded = select_studies(outcome_rows, measure)
    harmful = spec["events_are"] == "harmful"
    result: dict[str, Any] = {
        "id": name,
        "title": spec["title"],
        "dataset": spec["dataset"],
        "outcome": spec["outcome"],
        "measure": measure,
        "scale": "log" if log_scale else "identity",
        "method": spec["method"],
        "ci_method": spec["ci_method"],
        "pi_method": spec["pi_method"],
        "level": spec["level"],
        "events_are": spec["events_are"],
        "labels": {
            "left": "Favours vitamin D" if harmful else "Favours control",
            "right": "Favours control" if harmful else "Favours vitamin D",
        },
        "excluded": excluded,
        "studies": [],
        "overall": None,
    }
    if studies.empty:
        return result

    yi, vi = study_effects(studies, measure, name)
    common = {"method": spec["method"], "ci_method": spec["ci_method"], "level": spec["level"]}
    overall = _pool_dict(pool(yi, vi, **common, pi_method=spec["pi_method"]), log_scale)
    result["overall"] = overall
    tau2 = overall["tau2"] or 0.0
    weights = 1.0 / (vi + tau2)
    weight_pct = 100.0 * weights / weights.sum()

    labels = study_labels(studies)
    z = float(stats.norm.ppf(0.5 + spec["level"] / 2))  # study CIs at the analysis level
    rows_out = []
    for i, record in enumerate(_records(studies)):
        entry = {field: _clean(record.get(field)) for field in STUDY_FIELDS}
        half = z * math.sqrt(vi[i])
        entry.update(
            {
                "label": labels[i],
                "input": record["input"],
                "effect_ci_low": _clean(record.get("ci_low")),
                "effect_ci_high": _clean(record.get("ci_high")),
                "yi": float(yi[i]),
                "vi": float(vi[i]),
                "ci_low": float(yi[i] - half),
                "ci_high": float(yi[i] + half),
                "weight_pct": float(weight_pct[i]),
            }
        )
        if log_scale:
            entry.update(_exp_fields(entry, ["yi", "ci_low", "ci_high"]))
        rows_out.append(entry)
    result["studies"] = rows_out

    k = len(studies)
    if k >= 2:
        low, high = tau2_ci(yi, vi, method=spec["method"], level=spec["level"])
        result["tau2_ci"] = {"low": _clean(low), "high": _clean(high)}
    if (studies["input"] == "2x2").all():
        a, n1, c, n2 = studies[COUNT_COLUMNS].astype(float).to_numpy().T
        mh = mantel_haenszel(a, n1, c, n2, measure=measure, level=spec["level"])
        result["mantel_haenszel"] = _pool_dict(mh, log_scale)
    result["subgroups"] = _subgroups(studies, yi, vi, spec, titles or {}, log_scale)
    result["meta_regression"] = _regressions(studies, yi, vi, spec)
    if k >= 3:
        egger = egger_test(yi, vi)
        result["egger"] = {**_clean(egger), "k": k}
        result["trim_and_fill"] = _clean(trim_and_fill(yi, vi, method=spec["method"]))
        result["leave_one_out"] = _clean(leave_one_out(yi, vi, labels=labels, **common))
    if k >= 2:
        order = studies["year"].astype(float).to_numpy()
        result["cumulative"] = _clean(cumulative(yi, vi, order=order, labels=labels, **common))
    result["absolute"] = _absolute(studies, overall, spec)
    result["single_trial_nnt"] = _single_trial_nnt(studies, spec)
    return result


def run_markers(rows: pd.DataFrame, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Single-trial continuous markers as published, with the consistency checks a reader needs.

    No pooling: each marker is one trial's between-group comparison. Two derived values are
    given under names that state their formula, never in place of published numbers:
    ``difference_of_changes = change_treat − change_control`` and the flag
    ``published_ci_excludes_estimate`` (the printed estimate lies outside its printed CI).
    """
    markers = []
    for record in _records(rows.sort_values(["row_id"], kind="stable")):
        entry = {key: _clean(value) for key, value in record.items()}
        treat: Any = record.get("change_treat")
        control: Any = record.get("change_control")
        both = pd.notna(treat) and pd.notna(control)
        entry["difference_of_changes"] = float(treat) - float(control) if both else None
        md, low, high = (
            cast(Any, record.get(c)) for c in ("mean_difference", "md_ci_low", "md_ci_high")
        )
        if pd.notna(md) and pd.notna(low) and pd.notna(high):
            entry["published_ci_excludes_estimate"] = not (float(low) <= float(md) <= float(high))
        else:
            entry["published_ci_excludes_estimate"] = None
        markers.append(entry)
    return {"id": spec["id"], "title": spec["title"], "kind": "markers", "markers": markers}


def _run_analysis_task(task: tuple[pd.DataFrame, dict[str, Any], Mapping[str, str]]) -> dict:
    return run_analysis(*task)


def run_dataset(
    dataset: str, rows: pd.DataFrame, config: Mapping[str, Any], *, workers: int = 1
) -> dict[str, Any]:
    """All analyses and marker sets of ``config`` that read ``dataset``.

    ``workers`` > 1 runs the analyses in that many processes (:func:`evsynth.parallel.map_ordered`);
    each analysis is given only the rows of its outcome, which is all :func:`run_analysis`
    reads, so the results are the same as a serial run's.
    """
    titles = config.get("subgroup_titles", {})
    specs = [
        {**spec, "id": name}
        for name, spec in sorted(config["analyses"].items())
        if spec["dataset"] == dataset
    ]
    if specs and "outcome" in rows.columns:
        by_outcome = dict(list(rows.groupby("outcome", sort=False)))
        empty = rows.iloc[0:0]
        tasks = [(by_outcome.get(spec["outcome"], empty), spec, titles) for spec in specs]
    else:
        tasks = [(rows, spec, titles) for spec in specs]
    analyses = map_ordered(_run_analysis_task, tasks, workers)
    markers = [
        run_markers(rows, {**spec, "id": name})
        for name, spec in sorted(config.get("markers", {}).items())
        if spec["dataset"] == dataset
    ]
    return {"dataset": dataset, "analyses": analyses, "markers": markers}


SUMMARY_COLUMNS = [
    "analysis",
    "subgroup",
    "group",
    "k",
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
    records = []
    for analysis in results["analyses"]:
        studies = analysis["studies"]
        by_row = {s["row_id"]: s for s in studies}

        def participants(row_ids: Iterable[str], by_row: Mapping[str, Any] = by_row) -> Any:
            sizes = [(by_row[r].get("n_treat"), by_row[r].get("n_control")) for r in row_ids]
            if any(a is None or b is None for a, b in sizes):
                return None
            return int(sum(a + b for a, b in sizes))

        blocks = []
        if analysis["overall"] is not None:
            blocks.append(("overall", "all", analysis["overall"], [s["row_id"] for s in studies]))
        for column, sub in (analysis.get("subgroups") or {}).items():
            for group in sub["groups"]:
                blocks.append((column, group["group"], group, group["row_ids"]))
        for subgroup, group, res, row_ids in blocks:
            record = {"analysis": analysis["id"], "subgroup": subgroup, "group": group}
            for column in SUMMARY_COLUMNS[3:-1]:
                record[column] = res.get(column)
            record["participants"] = participants(row_ids)
            record["row_ids"] = ";".join(row_ids)
            records.append(record)
    frame = pd.DataFrame(records, columns=SUMMARY_COLUMNS)
    for column in ("k", "participants"):
        frame[column] = frame[column].astype("Int64")
    return frame
