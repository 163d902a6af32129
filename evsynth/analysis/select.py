"""Which raw rows enter an analysis, and as what.

A row enters when it passes the analysis's ``where`` filter, is marked ``include`` (when the
table has that column), and carries what the measure needs:

* a 2×2 analysis (RR, OR, RD): the four counts, counting persons — a row counting events
  (``count_unit = events``) enters only when the analysis allows ``event_counts``, and is then
  flagged;
* a continuous analysis (MD, SMD): means, SDs and sizes of both arms;
* any analysis: a published estimate (``effect_measure``, ``effect`` with ``ci_low`` and
  ``ci_high``, or ``se``) of the analysis's measure or of one it ``accept``s. An estimate of a
  rate ratio computed from event counts is an event-count row like the others.

Counts or means are used when a row has both them and a published estimate (the computed
effect is the analysis's own measure). A published estimate whose CI has zero width carries
no variance: it is left out, with that reason, and the analysis goes on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evsynth.analysis.model import Excluded
from evsynth.analysis.words import value_key
from evsynth.validate.config import COLUMNS_OF, input_kind

PROVENANCE = ("source_url", "doi_or_pmid", "quote")


@dataclass(frozen=True)
class Chosen:
    """A row that enters: its record, how it enters and what it is flagged with."""

    record: dict[str, Any]
    input: str  # "2x2" | "means" | "generic"
    measure: str
    flags: tuple[str, ...] = ()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of plain Python values (``None`` for missing)."""
    names = [str(c) for c in frame.columns]
    columns = [
        frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def matches(record: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether ``record`` passes a ``where`` filter (column: value, or list of values);
    values compare as text, so ``true`` matches a boolean True and 800 matches 800.0."""
    for column, wanted in where.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if value_key(record.get(column)) not in {value_key(o) for o in options}:
            return False
    return True


def _given(record: Mapping[str, Any], columns: tuple[str, ...]) -> bool:
    return all(record.get(c) is not None for c in columns)


def _estimate(record: Mapping[str, Any]) -> bool:
    has_ci = record.get("ci_low") is not None and record.get("ci_high") is not None
    return (
        record.get("effect_measure") is not None
        and record.get("effect") is not None
        and (has_ci or record.get("se") is not None)
    )


def _zero_width(record: Mapping[str, Any]) -> bool:
    low, high, se = record.get("ci_low"), record.get("ci_high"), record.get("se")
    if se is not None:
        return float(se) == 0
    return low is not None and high is not None and float(low) == float(high)


def choose(record: dict[str, Any], spec: Mapping[str, Any]) -> Chosen | str:
    """How ``record`` enters the analysis ``spec``, or the reason it does not."""
    if record.get("include") is False:
        return record.get("exclusion_reason") or "marked include = false"
    measure = spec["measure"]
    kind = input_kind(measure)
    events = record.get("count_unit") == "events"
    flags: tuple[str, ...] = ()
    if kind == "binary" and _given(record, COLUMNS_OF["binary"]):
        if not events:
            return Chosen(record, "2x2", measure)
        if spec.get("event_counts"):
            return Chosen(record, "2x2", measure, ("counts events, not persons",))
    if kind == "continuous" and _given(record, COLUMNS_OF["continuous"]):
        return Chosen(record, "means", measure)
    if _estimate(record):
        published = str(record["effect_measure"])
        if events and not spec.get("event_counts"):
            return (
                f"its {published} counts events, not persons (set event_counts: true to allow "
                "it in this analysis)"
            )
        if published not in (measure, *spec.get("accept", [])):
            return (
                f"its published {published} cannot enter a {measure} analysis "
                f"(add {published} to the analysis's accept list to allow it)"
            )
        if _zero_width(record):
            return "its published CI has zero width, so it has no variance (not estimable)"
        if events:
            flags = ("counts events, not persons",)
        return Chosen(record, "generic", published, flags)
    if kind == "binary" and events and _given(record, COLUMNS_OF["binary"]):
        return "its counts are events, not persons (set event_counts: true to allow them)"
    needs = {
        "binary": "four person counts",
        "continuous": "means, SDs and sizes of both arms",
        "generic": "a published estimate",
    }[kind]
    return f"neither {needs} nor a published estimate with its CI or SE"


def excluded(record: Mapping[str, Any], reason: str) -> Excluded:
    """The :class:`Excluded` entry of a row that does not enter."""
    return Excluded(
        row_id=str(record["row_id"]),
        study_id=str(record.get("study_id", "")),
        reason=reason,
        **{key: _none_if_nan(record.get(key)) for key in PROVENANCE},
    )


def _none_if_nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def select_rows(rows: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[list[Chosen], list[Excluded]]:
    """The rows of ``rows`` that enter the analysis ``spec`` and those left out (with the
    reason), each list in the table's order."""
    chosen: list[Chosen] = []
    left_out: list[Excluded] = []
    where = spec.get("where") or {}
    for record in records(rows):
        if not matches(record, where):
            continue
        outcome = choose(record, spec)
        if isinstance(outcome, Chosen):
            chosen.append(outcome)
        else:
            left_out.append(excluded(record, outcome))
    return chosen, left_out
