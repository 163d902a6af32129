"""The words of an analysis, all from the review: arm and favours labels, measure labels,
study labels, variable titles and subgroup labels. The library adds no word of its own
review beyond the names of the statistical methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: RevMan's names of the measures.
MEASURE_NAMES = {
    "RR": "Risk Ratio",
    "OR": "Odds Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
    "HR": "Hazard Ratio",
    "IRR": "Rate Ratio",
}
RATIOS = frozenset({"RR", "OR", "HR", "IRR"})


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def measure_label(measures: Iterable[str], first: str | None = None) -> str:
    """The column heading of an analysis whose rows carry ``measures``: one measure's name
    ("Risk Ratio"), or what a mix is ("Ratio (RR or HR)"; "Difference (MD or RD)"), the
    analysis's own measure ``first`` named first."""
    found = sorted(
        set(m for text in measures for m in text.split("/")), key=lambda m: (m != first, m)
    )
    if len(found) == 1:
        return MEASURE_NAMES.get(found[0], found[0])
    kind = "Ratio" if set(found) <= RATIOS else "Difference"
    return f"{kind} ({' or '.join(found)})"


def arm_labels(review: Mapping[str, Any]) -> tuple[str, str]:
    """Arm headings from the review's intervention and control."""
    return upper_first(review["intervention"]), upper_first(review["control"])


def favours(review: Mapping[str, Any], higher_is: str) -> dict[str, str]:
    """Forest-plot side labels: below the null favours the intervention when higher values
    (more events) are worse."""
    treat, control = f"Favours {review['intervention']}", f"Favours {review['control']}"
    if higher_is == "worse":
        return {"left": treat, "right": control}
    return {"left": control, "right": treat}


def readable_id(study_id: str) -> str:
    """A label from an id such as ``Chapuy1992`` → ``Chapuy 1992`` (``Smith2007_b`` →
    ``Smith 2007 (b)``); an id without a year is kept as it is."""
    for i, char in enumerate(study_id):
        if char.isdigit() and i > 0:
            head, tail = study_id[:i], study_id[i:]
            year, rest = tail[:4], tail[4:].lstrip("_")
            if not year.isdigit() or len(year) < 4:
                return study_id
            return f"{head} {year}" + (f" ({rest})" if rest else "")
    return study_id


def study_label(record: Mapping[str, Any], review: Mapping[str, Any]) -> str:
    """A study's label: the review's ``study_label`` column when set and filled, else its
    readable ``study_id``."""
    column = review.get("study_label")
    value = record.get(column) if column else None
    return str(value) if value not in (None, "") else readable_id(str(record["study_id"]))


def variable(name: str, variables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Title, unit, slope unit and level labels of a review column (a readable default title
    when the review gives none)."""
    given = dict(variables.get(name) or {})
    given.setdefault("title", upper_first(name.replace("_", " ")))
    return {
        "title": given["title"],
        "unit": given.get("unit"),
        "per": given.get("per"),
        "levels": dict(given.get("levels") or {}),
    }


def value_key(value: Any) -> str | None:
    """The text of a cell as level labels are keyed (booleans as "true"/"false")."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def group_label(value: Any, levels: Mapping[str, str]) -> str | None:
    """A subgroup's label: the review's label of the level, else the value itself
    ("yes"/"no" for booleans); None when the value is missing."""
    key = value_key(value)
    if key is None:
        return None
    if key in levels:
        return str(levels[key])
    if isinstance(value, bool):
        return "yes" if value else "no"
    return key


def group_order(labels: Iterable[str], levels: Mapping[str, str]) -> list[str]:
    """Subgroups in the review's order of levels, then the others sorted."""
    present = set(labels)
    ordered = [label for label in levels.values() if label in present]
    return ordered + sorted(present - set(ordered))
