"""Pooling a set of trial estimates the way an analysis is configured: random effects (tau²
estimator and CI method), or fixed effect by inverse variance, Mantel–Haenszel or Peto.

Every pooled line (overall, subgroup, sensitivity) goes through :func:`pooled`, so they all
count trials, participants and events the same way and apply the same prediction-interval
rules: no prediction interval below ``min_k_prediction`` trials (default 3), and a note when
a ratio's interval spans more than two orders of magnitude (it then says little more than
that the effect in a new setting is unknown; IntHout et al. 2016, BMJ Open 6:e010247).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from evsynth.analysis.model import Pooled
from evsynth.analysis.trials import BINARY_COLUMNS, Unit
from evsynth.errors import AnalysisInputError
from evsynth.meta.fixed_effects import mantel_haenszel, peto
from evsynth.meta.pooling import FIELDS as POOL_FIELDS
from evsynth.meta.pooling import pool

#: A ratio's prediction interval spanning more than this factor is flagged as uninformative.
UNINFORMATIVE_RATIO = 100.0


def totals(units: Sequence[Unit]) -> tuple[int, int, int | None, int, int | None]:
    """Trials, comparisons (raw rows), participants, trials with participants, events —
    each trial once (a split control's arms carry the trial's totals on the first arm)."""
    trials = {u.trial for u in units}
    firsts: dict[str, Unit] = {}
    for u in units:
        if u.participants is not None or u.trial not in firsts:
            firsts.setdefault(u.trial, u)
            if u.participants is not None:
                firsts[u.trial] = u
    known = [u.participants for u in firsts.values() if u.participants is not None]
    events = [u.events for u in firsts.values()]
    comparisons = len({r for u in units for r in u.row_ids})
    return (
        len(trials),
        comparisons,
        int(sum(known)) if known else None,
        len(known),
        None if any(e is None for e in events) else int(sum(e for e in events if e is not None)),
    )


def _fixed(units: Sequence[Unit], spec: Mapping[str, Any]) -> dict[str, Any]:
    """MH or Peto on the raw 2×2 tables (strata stay separate tables: MH is stratified)."""
    without = sorted({u.trial for u in units if u.input != "2x2"})
    if without:
        raise AnalysisInputError(
            f"analysis {spec.get('id')!r}: {spec['fixed_method']} needs the 2x2 table of every "
            f"trial, but {', '.join(without)} entered as a published estimate; use "
            "fixed_method: IV (inverse variance) or model: random"
        )
    tables = [t for u in units for t in u.tables()]
    a, n1, c, n2 = (np.array([float(t[k]) for t in tables]) for k in BINARY_COLUMNS)
    if spec["fixed_method"] == "MH":
        result = mantel_haenszel(a, n1, c, n2, measure=spec["measure"], level=spec["level"])
    else:
        result = peto(a, n1, c, n2, level=spec["level"])
    out = asdict(result)
    out.update(
        df=None,
        tau2=0.0,
        tau=0.0,
        pi_low=None,
        pi_high=None,
        k=len(units),
        converged=True,
        tau2_on_boundary=False,
        method=spec["fixed_method"],
        ci_method="z",
        level=spec["level"],
    )
    return out


def _prediction_note(
    values: dict[str, Any], trials: int, spec: Mapping[str, Any], log_scale: bool
) -> str | None:
    if spec["model"] == "fixed":
        values["pi_low"] = values["pi_high"] = None
        return "no prediction interval: fixed-effect model"
    if trials < spec.get("min_k_prediction", 3):
        values["pi_low"] = values["pi_high"] = None
        return f"no prediction interval with fewer than {spec.get('min_k_prediction', 3)} trials"
    low, high = values.get("pi_low"), values.get("pi_high")
    if (
        log_scale
        and low is not None
        and high is not None
        and high - low > math.log(UNINFORMATIVE_RATIO)
    ):
        return (
            "uninformative: the prediction interval spans more than two orders of "
            "magnitude, so the effect in a new trial could be anything from large benefit "
            "to large harm"
        )
    return None


def pooled(
    units: Sequence[Unit], spec: Mapping[str, Any], log_scale: bool, **overrides: Any
) -> Pooled:
    """Pool ``units`` with the analysis settings ``spec`` (``overrides`` replace settings,
    as a sensitivity analysis does)."""
    spec = {**spec, **overrides}
    if spec["model"] == "fixed" and spec["fixed_method"] in ("MH", "Peto"):
        values = _fixed(units, spec)
    else:
        yi = np.array([u.yi for u in units])
        vi = np.array([u.vi for u in units])
        random = spec["model"] == "random"
        result = pool(
            yi,
            vi,
            spec["method"] if random else "EE",
            spec["ci_method"] if random else "z",
            spec["level"],
            pi_method=spec.get("pi_method", "metafor"),
        )
        values = asdict(result)
        if not random:
            values["method"] = "IV"
    trials, comparisons, participants, with_n, events = totals(units)
    note = _prediction_note(values, trials, spec, log_scale)
    fields = {k: values[k] for k in POOL_FIELDS}
    if fields["df"] is not None and not math.isfinite(fields["df"]):
        fields["df"] = None
    return Pooled(
        **fields,
        trials=trials,
        comparisons=comparisons,
        participants=participants,
        participants_trials=with_n,
        events=events,
        model=spec["model"],
        row_ids=tuple(r for u in units for r in u.row_ids),
        pi_note=note,
        log_scale=log_scale,
    )
