"""Trials, not comparisons: the rows of one trial become one estimate before pooling.

Rows that share the trial key (``trial_key``, by default ``study_id``) belong to one trial.

* **Strata** (the default: rows are disjoint parts of the trial, e.g. allocation strata or
  centres reported separately): combined within the trial — 2×2 tables by Mantel–Haenszel
  (the stratified estimate and its Greenland–Robins / Robins–Breslow–Greenland / Sato variance,
  :func:`evsynth.meta.fixed_effects.mantel_haenszel`), anything else by inverse variance
  (fixed effect). The trial then enters the analysis once.
* **Arms sharing one control** (rows with the same non-blank ``shared_control`` value): the
  review chooses, as the Cochrane Handbook §23.3.4 advises, to ``combine`` the active arms into
  one group (2×2: events and sizes added; means: Handbook Table 6.5.a) or to ``split`` the
  shared control into as many equal parts as there are arms (each comparison then enters with
  its share of the control group, so no participant is counted twice).

A trial counts once in the number of trials, participants and events whatever its rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evsynth.analysis.select import Chosen
from evsynth.errors import AnalysisInputError
from evsynth.meta.effects import binary_effects, continuous_effects, generic_effects
from evsynth.meta.fixed_effects import mantel_haenszel

BINARY_COLUMNS = ("events_treat", "n_treat", "events_control", "n_control")
MEANS_COLUMNS = ("mean_treat", "sd_treat", "n_treat", "mean_control", "sd_control", "n_control")


@dataclass(frozen=True)
class Unit:
    """One estimate entering the analysis, from one or several rows of one trial."""

    rows: tuple[Chosen, ...]
    trial: str
    input: str
    measure: str
    yi: float
    vi: float
    counts: Mapping[str, Any] = field(default_factory=dict)
    combined: str | None = None
    flags: tuple[str, ...] = ()
    participants: int | None = None
    events: int | None = None
    share: float = 1.0  # this unit's share of its trial (split controls: 1/m)
    strata: bool = False  # disjoint strata combined (MH across trials keeps them apart)

    @property
    def record(self) -> dict[str, Any]:
        """The first row's record (the trial's facts)."""
        return self.rows[0].record

    @property
    def row_ids(self) -> tuple[str, ...]:
        return tuple(str(c.record["row_id"]) for c in self.rows)

    def tables(self) -> list[Mapping[str, Any]]:
        """The 2×2 tables this unit stands for: each stratum's own (a stratified
        Mantel–Haenszel keeps strata apart), else the unit's (combined) counts."""
        return [c.record for c in self.rows] if self.strata else [self.counts]


def row_effect(row: Chosen, measure: str) -> tuple[float, float]:
    """Effect and sampling variance of one row: escalc on 2×2 tables and means, generic
    inverse variance on a published estimate (Cochrane Handbook §6.3.2)."""
    r = row.record
    if row.input == "2x2":
        a, b, c, d = ([float(r[k])] for k in BINARY_COLUMNS)
        yi, vi = binary_effects(a, b, c, d, measure=measure)
    elif row.input == "means":
        m1, s1, n1, m2, s2, n2 = ([float(r[k])] for k in MEANS_COLUMNS)
        yi, vi = continuous_effects(m1, s1, n1, m2, s2, n2, measure=measure)
    else:
        se = r.get("se")
        yi, vi = generic_effects(
            [float(r["effect"])],
            None if se is not None else [float(r["ci_low"])],
            None if se is not None else [float(r["ci_high"])],
            se=None if se is None else [float(se)],
            measure=row.measure,
        )
    return float(yi[0]), float(vi[0])


def _sum(values: Sequence[Any]) -> Any:
    return None if any(v is None for v in values) else sum(values)


def _trial_totals(rows: Sequence[Chosen], shared: bool) -> tuple[int | None, int | None]:
    """Participants and events of a trial: both arms, the shared control once."""
    recs = [c.record for c in rows]
    control = recs[:1] if shared else recs
    n = _sum([r.get("n_treat") for r in recs] + [r.get("n_control") for r in control])
    events = None
    if all(c.input == "2x2" for c in rows):
        events = _sum(
            [r.get("events_treat") for r in recs] + [r.get("events_control") for r in control]
        )
    return (None if n is None else round(n)), (None if events is None else int(events))


def _single(row: Chosen, trial: str, measure: str) -> Unit:
    yi, vi = row_effect(row, measure)
    participants, events = _trial_totals([row], shared=False)
    counts = {k: row.record.get(k) for k in (*BINARY_COLUMNS, *MEANS_COLUMNS)}
    return Unit(
        (row,), trial, row.input, row.measure, yi, vi, counts, None, row.flags, participants, events
    )


def _flags(rows: Sequence[Chosen]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for c in rows for f in c.flags))


def _strata(rows: Sequence[Chosen], trial: str, measure: str) -> Unit:
    """Disjoint strata of one trial: Mantel–Haenszel for 2×2 tables, else inverse variance."""
    participants, events = _trial_totals(rows, shared=False)
    if all(c.input == "2x2" for c in rows):
        a, n1, c, n2 = (np.array([float(r.record[k]) for r in rows]) for k in BINARY_COLUMNS)
        try:
            mh = mantel_haenszel(a, n1, c, n2, measure=measure)
        except AnalysisInputError:
            raise AnalysisInputError(
                f"trial {trial}: its strata carry no information for a Mantel–Haenszel "
                f"{measure} (no events in any stratum)"
            ) from None
        counts = {k: _sum([r.record.get(k) for r in rows]) for k in BINARY_COLUMNS}
        return Unit(
            tuple(rows),
            trial,
            "2x2",
            measure,
            mh.estimate,
            mh.se**2,
            counts,
            f"{len(rows)} strata combined (Mantel–Haenszel)",
            _flags(rows),
            participants,
            events,
            strata=True,
        )
    effects = [row_effect(r, measure) for r in rows]
    w = np.array([1.0 / v for _, v in effects])
    y = np.array([e for e, _ in effects])
    measures = sorted({r.measure for r in rows})
    return Unit(
        tuple(rows),
        trial,
        "generic",
        "/".join(measures),
        float((w * y).sum() / w.sum()),
        float(1.0 / w.sum()),
        {},
        f"{len(rows)} strata combined (inverse variance)",
        _flags(rows),
        participants,
        events,
    )


def combine_means(n: Sequence[float], m: Sequence[float], sd: Sequence[float]) -> tuple:
    """Size, mean and SD of groups combined into one (Cochrane Handbook Table 6.5.a),
    applied pairwise."""
    n_, m_, s_ = float(n[0]), float(m[0]), float(sd[0])
    for n2, m2, s2 in zip(n[1:], m[1:], sd[1:], strict=True):
        total = n_ + n2
        mean = (n_ * m_ + n2 * m2) / total
        var = ((n_ - 1) * s_**2 + (n2 - 1) * s2**2 + n_ * n2 / total * (m_ - m2) ** 2) / (total - 1)
        n_, m_, s_ = total, mean, math.sqrt(var)
    return n_, m_, s_


def _combined_arms(rows: Sequence[Chosen]) -> dict[str, Any]:
    """The counts (or means) of active arms combined into one group, the shared control once:
    events and sizes added; means and SDs by Cochrane Handbook Table 6.5.a."""
    first = rows[0].record
    if rows[0].input == "2x2":
        return {
            "events_treat": sum(c.record["events_treat"] for c in rows),
            "n_treat": sum(c.record["n_treat"] for c in rows),
            "events_control": first["events_control"],
            "n_control": first["n_control"],
        }
    n, m, s = combine_means(
        *([c.record[k] for c in rows] for k in ("n_treat", "mean_treat", "sd_treat"))
    )
    return {
        "n_treat": n,
        "mean_treat": m,
        "sd_treat": s,
        **{k: first[k] for k in ("n_control", "mean_control", "sd_control")},
    }


def _split_arm(row: Chosen, arms: int, measure: str) -> tuple[float, float, dict[str, Any]]:
    """One arm against its share (1/arms) of the shared control's events and size."""
    part: dict[str, Any] = {
        k: row.record[k] / arms
        for k in ("events_control", "n_control")
        if row.record.get(k) is not None
    }
    split = Chosen({**row.record, **part}, row.input, row.measure, row.flags)
    yi, vi = row_effect(split, measure)
    return yi, vi, {k: split.record.get(k) for k in (*BINARY_COLUMNS, *MEANS_COLUMNS)}


def _shared_control(rows: Sequence[Chosen], trial: str, measure: str, how: str) -> list[Unit]:
    """Active arms sharing one control: one unit of the arms combined, or one unit per arm
    with the control split between them (Cochrane Handbook §23.3.4)."""
    if any(c.input == "generic" for c in rows):
        raise AnalysisInputError(
            f"trial {trial}: arms sharing a control cannot be combined from published "
            "estimates (they are correlated); enter the arms' counts or means"
        )
    participants, events = _trial_totals(rows, shared=True)
    if how == "combine":
        counts = _combined_arms(rows)
        merged = Chosen({**rows[0].record, **counts}, rows[0].input, measure, _flags(rows))
        yi, vi = row_effect(merged, measure)
        combined = f"{len(rows)} arms combined (shared control)"
        return [
            Unit(
                tuple(rows),
                trial,
                rows[0].input,
                measure,
                yi,
                vi,
                counts,
                combined,
                _flags(rows),
                participants,
                events,
            )
        ]
    units = []
    for index, row in enumerate(rows):
        yi, vi, counts = _split_arm(row, len(rows), measure)
        first = index == 0  # the trial's totals, once
        units.append(
            Unit(
                (row,),
                trial,
                row.input,
                row.measure,
                yi,
                vi,
                counts,
                f"control split between {len(rows)} arms",
                row.flags,
                participants if first else None,
                events if first else None,
                share=1.0 / len(rows),
            )
        )
    return units


def trial_units(
    rows: Sequence[Chosen], spec: Mapping[str, Any]
) -> tuple[list[Unit], list[tuple[Chosen, str]]]:
    """The units of an analysis from its chosen rows, in the rows' order, and the rows of
    trials that cannot enter (with the reason)."""
    key = spec.get("trial_key", "study_id")
    measure = spec["measure"]
    groups: dict[str, list[Chosen]] = {}
    for row in rows:
        trial = row.record.get(key) or row.record.get("study_id")
        groups.setdefault(str(trial), []).append(row)
    units: list[Unit] = []
    dropped: list[tuple[Chosen, str]] = []
    for trial, members in groups.items():
        shared = {m.record.get("shared_control") for m in members}
        try:
            if len(members) == 1:
                units.append(_single(members[0], trial, measure))
            elif len(shared) == 1 and None not in shared:
                units += _shared_control(members, trial, measure, spec.get("multi_arm", "combine"))
            else:
                units.append(_strata(members, trial, measure))
        except AnalysisInputError as error:
            dropped += [(m, str(error)) for m in members]
    usable = []
    for unit in units:
        if math.isfinite(unit.yi) and math.isfinite(unit.vi) and unit.vi > 0:
            usable.append(unit)
        else:
            reason = "its effect or variance cannot be computed (not estimable)"
            dropped += [(m, reason) for m in unit.rows]
    return usable, dropped
