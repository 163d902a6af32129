"""What a forest plot says, row by row: the table of RevMan 5 built from an analysis's results.

:func:`forest_table` turns one analysis (``docs/results.md``) into a :class:`ForestTable`:
columns, rows (studies, subgroup headings and subtotals, totals, events, prediction interval,
notes) and the footer lines. Nothing here measures or draws; :mod:`evsynth.plots.forest` lays
the table out and draws it. Each number is formatted once, by :mod:`evsynth.format`.

- Participant and event totals count only the rows that give both arms' numbers
  (:func:`evsynth.plots.texts.participants`).
- A row shows one estimate: the one computed from its ``yi``/``vi`` at the analysis's level.
  Rows whose published estimate and CI were entered as they are (generic inverse variance) are
  named in a footer line.
- Where the rows' measures differ (HR beside RR), each row's effect starts with its measure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from evsynth import format as fmt
from evsynth.plots.texts import (
    arm_labels,
    both_arms,
    favours_labels,
    heterogeneity_text,
    is_ratio,
    level_pct,
    measure_label,
    measures_mix,
    method_header,
    method_text,
    overall_test_text,
    participants,
    study_measure,
    subgroup_difference_text,
    subgroup_title,
    to_display,
)

Variant = Literal["standard", "leave_one_out", "cumulative"]
VARIANTS = ("standard", "leave_one_out", "cumulative")
#: Cells of each arm by the kind of data the rows hold.
ARM_CELLS = {
    "binary": (("events", "Events"), ("n", "Total")),
    "continuous": (("mean", "Mean"), ("sd", "SD"), ("n", "Total")),
    "participants": (("n", "Total"),),
    "none": (),
}


@dataclass
class Row:
    """One line of the forest plot: table cells plus what the plot column shows.

    ``kind``: study | estimate (a leave-one-out or cumulative result) | subtotal | total |
    pi (prediction interval) | heading | events | note | blank.
    """

    kind: str
    label: str = ""
    sublabel: str = ""  # under the label: the comparison of a trial with several rows
    cells: dict[str, str] = field(default_factory=dict)
    est: float = math.nan  # display scale
    low: float = math.nan
    high: float = math.nan
    weight: float | None = None
    bold: bool = False


@dataclass(frozen=True)
class Column:
    """A table column: key into :attr:`Row.cells`, its header and the arm it belongs to."""

    key: str
    header: str
    group: str = ""  # header above the column (an arm's name), shared by neighbours
    align: str = "middle"  # start | middle


@dataclass(frozen=True)
class ForestTable:
    """Everything a forest plot prints, before layout."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    footer: tuple[str, ...]
    effect_group: str  # the measure's label above the effect column and the plot
    effect_header: str  # "IV, Random, 95% CI"
    favours: tuple[str, str]
    ratio: bool


def _arm_kind(studies: Sequence[Mapping[str, Any]]) -> str:
    if any(s.get("mean_treat") is not None or s.get("mean_control") is not None for s in studies):
        return "continuous"
    if any(
        s.get("events_treat") is not None or s.get("events_control") is not None for s in studies
    ):
        return "binary"
    if any(s.get("n_treat") is not None or s.get("n_control") is not None for s in studies):
        return "participants"
    return "none"


def _arm_value(key: str, value: Any) -> str:
    if value is None:
        return ""
    return fmt.count(value) if key in ("events", "n") else fmt.as_given(value)


def _effect(
    row: Mapping[str, Any], ratio: bool, prefix: str = ""
) -> tuple[str, float, float, float]:
    est_key = "yi" if "yi" in row else "estimate"
    est = to_display(row.get(est_key), ratio)
    low, high = to_display(row.get("ci_low"), ratio), to_display(row.get("ci_high"), ratio)
    text = fmt.estimate_ci(est, low, high)
    return (f"{prefix} {text}" if prefix else text), est, low, high


class _Builder:
    """Rows of one analysis; holds what every row needs to know (scale, measures, arms)."""

    def __init__(self, analysis: Mapping[str, Any]):
        self.analysis = analysis
        self.studies: list[Mapping[str, Any]] = list(analysis.get("studies", []))
        self.ratio = is_ratio(analysis)
        self.mixed = measures_mix(analysis)
        self.arms = _arm_kind(self.studies)
        shared = Counter(s.get("trial") or s.get("study_id") for s in self.studies)
        self.shared = {trial for trial, n in shared.items() if n > 1}

    def study(self, study: Mapping[str, Any]) -> Row:
        prefix = study_measure(study, self.analysis) if self.mixed else ""
        effect, est, low, high = _effect(study, self.ratio, prefix)
        label = str(study.get("label") or study.get("study_id") or "")
        comparison = str(study.get("comparison") or "")
        trial = study.get("trial") or study.get("study_id")
        sublabel = comparison if trial in self.shared and comparison not in label else ""
        cells = {"weight": fmt.percent(study.get("weight_pct"), 1), "effect": effect}
        for arm, suffix in (("1", "treat"), ("2", "control")):
            for key, _header in ARM_CELLS[self.arms]:
                cells[key + arm] = _arm_value(key, study.get(f"{key}_{suffix}"))
        return Row("study", label, sublabel, cells, est, low, high, study.get("weight_pct"))

    def pooled(self, kind: str, label: str, result: Mapping[str, Any], members: list) -> list[Row]:
        """A subtotal or total row (participants, weight, pooled effect) and, for counts, its
        "Total events" row; both count only the rows with both arms' numbers."""
        effect, est, low, high = _effect(result, self.ratio)
        weights = [s["weight_pct"] for s in members if s.get("weight_pct") is not None]
        cells = {"effect": effect, "weight": fmt.percent(sum(weights), 1) if weights else ""}
        totals = participants(members)
        if totals and "n" in dict(ARM_CELLS[self.arms]):
            cells["n1"], cells["n2"] = fmt.count(totals[0]), fmt.count(totals[1])
        rows = [Row(kind, label, cells=cells, est=est, low=low, high=high, bold=True)]
        with_n = both_arms(members, "n_treat", "n_control")
        counted = both_arms(with_n, "events_treat", "events_control")
        if self.arms == "binary" and counted:
            events = {
                "events1": fmt.count(sum(s["events_treat"] for s in counted)),
                "events2": fmt.count(sum(s["events_control"] for s in counted)),
            }
            rows.append(Row("events", "Total events", cells=events))
        return rows

    def prediction(self, result: Mapping[str, Any]) -> list[Row]:
        low = to_display(result.get("pi_low"), self.ratio)
        high = to_display(result.get("pi_high"), self.ratio)
        if (result.get("k") or 0) < 2 or not (math.isfinite(low) and math.isfinite(high)):
            return []
        est = to_display(result.get("estimate"), self.ratio)
        cells = {"effect": f"[{fmt.ratio(low)}, {fmt.ratio(high)}]"}
        return [Row("pi", "Prediction interval", cells=cells, est=est, low=low, high=high)]

    def columns(self) -> tuple[Column, ...]:
        treat, control = arm_labels(self.analysis)
        arm_columns = [
            Column(key + arm, header, name)
            for arm, name in (("1", treat), ("2", control))
            for key, header in ARM_CELLS[self.arms]
        ]
        return (
            Column("label", "Study or subgroup", align="start"),
            *arm_columns,
            Column("weight", "Weight"),
            Column("effect", method_header(self.analysis)),
        )

    def footnotes(self) -> list[str]:
        """Footer lines on rows entered as published and on rows left out of the totals."""
        notes = []
        generic = [s for s in self.studies if s.get("input") == "generic"]
        if generic:
            names = ", ".join(str(s.get("label") or s.get("study_id")) for s in generic)
            notes.append(
                f"Published estimate and {level_pct(self.analysis)}% CI used as reported "
                f"(generic inverse variance): {names}."
            )
        counted = both_arms(self.studies, "n_treat", "n_control")
        if self.arms != "none" and len(counted) < len(self.studies):
            notes.append(
                f"Totals of participants and events count the {len(counted)} of "
                f"{len(self.studies)} rows that give both arms' numbers."
            )
        return notes


def _subgroup_rows(build: _Builder, column: str) -> tuple[list[Row], list[str]]:
    analysis = build.analysis
    block = (analysis.get("subgroups") or {}).get(column)
    if block is None:
        known = ", ".join(sorted(analysis.get("subgroups") or {})) or "none"
        raise KeyError(
            f"analysis {analysis.get('id')!r} has no subgroup {column!r} (known: {known})"
        )
    rows: list[Row] = []
    placed: set[str] = set()
    for group in block.get("groups", []):
        ids = set(group.get("row_ids", []))
        members = [s for s in build.studies if s.get("row_id") in ids]
        placed |= ids
        rows.append(Row("heading", str(group.get("group")), bold=True))
        rows += [build.study(s) for s in members]
        rows += build.pooled("subtotal", f"Subtotal ({level_pct(analysis)}% CI)", group, members)
        rows += [Row("note", heterogeneity_text(group)), Row("note", overall_test_text(group))]
        rows.append(Row("blank"))
    missing = [s for s in build.studies if s.get("row_id") not in placed]
    notes = []
    if missing:
        names = ", ".join(str(s.get("label") or s.get("study_id")) for s in missing)
        notes.append(f"Not in any subgroup (no value recorded): {names}.")
    return rows, notes


def _standard(build: _Builder, subgroup: str | None) -> tuple[list[Row], list[str]]:
    analysis = build.analysis
    overall = analysis.get("overall") or {}
    notes: list[str] = []
    if subgroup is None:
        rows = [build.study(s) for s in build.studies]
        rows.append(Row("blank"))
    else:
        rows, notes = _subgroup_rows(build, subgroup)
    footer: list[str] = []
    if overall:
        rows += build.pooled("total", f"Total ({level_pct(analysis)}% CI)", overall, build.studies)
        rows += build.prediction(overall)
        footer += [heterogeneity_text(overall), overall_test_text(overall)]
    if subgroup is not None:
        footer.append(subgroup_difference_text(analysis["subgroups"][subgroup]))
    footer.append(method_text(analysis))
    return rows, footer + build.footnotes() + notes


def _sensitivity(build: _Builder, variant: Variant) -> tuple[list[Row], list[str]]:
    analysis = build.analysis
    entries = analysis.get(variant) or []
    if not entries:
        raise KeyError(f"analysis {analysis.get('id')!r} has no {variant!r} results to plot")

    def estimate_row(kind: str, label: str, entry: Mapping[str, Any]) -> Row:
        effect, est, low, high = _effect(entry, build.ratio)
        cells = {
            "k": str(entry.get("k", "")),
            "tau2": fmt.tau2(entry.get("tau2")),
            "i2": fmt.percent(entry.get("i2")),
            "effect": effect,
        }
        return Row(kind, label, cells=cells, est=est, low=low, high=high, bold=kind == "total")

    rows = [estimate_row("estimate", str(e.get("label", "")), e) for e in entries]
    overall = analysis.get("overall") or {}
    if overall:
        rows.append(Row("blank"))
        rows.append(estimate_row("total", f"All studies ({level_pct(analysis)}% CI)", overall))
    what = (
        "Each row: pooled estimate of all studies except the one named."
        if variant == "leave_one_out"
        else "Each row: pooled estimate of the studies up to and including the one named."
    )
    return rows, [what, method_text(analysis)]


def _sensitivity_columns(analysis: Mapping[str, Any], variant: Variant) -> tuple[Column, ...]:
    label = "Study omitted" if variant == "leave_one_out" else "Study added"
    return (
        Column("label", label, align="start"),
        Column("k", "k"),
        Column("tau2", "Tau²"),
        Column("i2", "I²"),
        Column("effect", method_header(analysis)),
    )


def forest_title(analysis: Mapping[str, Any], subgroup: str | None, variant: Variant) -> str:
    """The plot's title in the review's own words: "Tuberculosis: by Method of allocation"."""
    title = str(analysis.get("title") or analysis.get("id", ""))
    if subgroup is not None:
        return f"{title}: by {subgroup_title(analysis, subgroup)}"
    if variant == "leave_one_out":
        return f"{title}: leave-one-out analysis"
    if variant == "cumulative":
        return f"{title}: cumulative meta-analysis"
    return title


def forest_table(
    analysis: Mapping[str, Any], subgroup: str | None = None, variant: Variant = "standard"
) -> ForestTable:
    """The rows, columns and footer of a forest plot of ``analysis``.

    ``subgroup`` names a key of ``analysis["subgroups"]`` (studies grouped under their group's
    label, each group with its subtotal, heterogeneity and test lines, then the test for
    subgroup differences). ``variant`` "leave_one_out" or "cumulative" tabulates
    ``analysis[variant]`` instead (one pooled estimate per row).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    if variant != "standard" and subgroup is not None:
        raise ValueError("subgroup applies to the standard forest plot only")
    build = _Builder(analysis)
    if variant == "standard":
        rows, footer = _standard(build, subgroup)
        columns = build.columns()
    else:
        rows, footer = _sensitivity(build, variant)
        columns = _sensitivity_columns(analysis, variant)
    return ForestTable(
        title=forest_title(analysis, subgroup, variant),
        columns=columns,
        rows=tuple(rows),
        footer=tuple(footer),
        effect_group=measure_label(analysis),
        effect_header=method_header(analysis),
        favours=favours_labels(analysis),
        ratio=build.ratio,
    )
