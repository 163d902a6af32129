"""What changed since the last report: estimates, trials and the wording of conclusions.

The workflow copies the last good results to ``results/previous/``; :func:`compare` takes the
current and the previous results (both ``{dataset: analysis JSON}``) and lists
- every pooled estimate (overall and per subgroup) whose displayed value changed (old → new),
- trials added and removed (``row_id``) per analysis,
- every conclusion sentence whose wording changed (the previous sentences are rebuilt from the
  previous results by the same rules).
Estimates are compared as displayed (formatted), so noise below the shown precision is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evsynth import format as fmt
from evsynth.io.safe_io import write_bytes_atomic


@dataclass(frozen=True)
class EstimateChange:
    analysis: str
    subgroup: str
    group: str
    old: str
    new: str


@dataclass(frozen=True)
class TrialChange:
    analysis: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class ConclusionChange:
    key: str
    old: str
    new: str


@dataclass(frozen=True)
class Changes:
    first_report: bool
    estimates: tuple[EstimateChange, ...] = field(default_factory=tuple)
    trials: tuple[TrialChange, ...] = field(default_factory=tuple)
    conclusions: tuple[ConclusionChange, ...] = field(default_factory=tuple)
    analyses_added: tuple[str, ...] = field(default_factory=tuple)
    analyses_removed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (
            self.estimates
            or self.trials
            or self.conclusions
            or self.analyses_added
            or self.analyses_removed
        )


def pooled_analyses(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """All pooled analyses of all datasets, by id."""
    return {a["id"]: a for ds in results.values() for a in ds.get("analyses", [])}


def summary_estimates(analysis: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(subgroup, group) → the displayed "estimate (CI); k" of every pooled line."""
    out: dict[tuple[str, str], str] = {}
    suffix = "_exp" if analysis.get("scale") == "log" else ""

    def show(p: dict[str, Any]) -> str:
        return (
            f"{analysis['measure']} {fmt.ratio(p['estimate' + suffix])} "
            f"({fmt.interval(p['ci_low' + suffix], p['ci_high' + suffix])}); k = {p['k']}"
        )

    if analysis.get("overall"):
        out[("overall", "all")] = show(analysis["overall"])
    for key, sub in (analysis.get("subgroups") or {}).items():
        for g in sub.get("groups", []):
            out[(key, g["group"])] = show(g)
    return out


def compare(
    current: dict[str, dict[str, Any]],
    previous: dict[str, dict[str, Any]] | None,
    current_conclusions: dict[str, str],
    previous_conclusions: dict[str, str] | None,
) -> Changes:
    if previous is None:
        return Changes(first_report=True)
    now, before = pooled_analyses(current), pooled_analyses(previous)
    estimates, trials = [], []
    for aid in sorted(set(now) & set(before)):
        new_est, old_est = summary_estimates(now[aid]), summary_estimates(before[aid])
        for key in sorted(set(new_est) | set(old_est)):
            old, new = old_est.get(key, "absent"), new_est.get(key, "absent")
            if old != new:
                estimates.append(EstimateChange(aid, key[0], key[1], old, new))
        new_rows = {s["row_id"] for s in now[aid]["studies"]}
        old_rows = {s["row_id"] for s in before[aid]["studies"]}
        if new_rows != old_rows:
            trials.append(
                TrialChange(
                    aid, tuple(sorted(new_rows - old_rows)), tuple(sorted(old_rows - new_rows))
                )
            )
    conclusions = []
    for name in sorted(set(current_conclusions) | set(previous_conclusions or {})):
        was = (previous_conclusions or {}).get(name, "(none)")
        now_text = current_conclusions.get(name, "(none)")
        if was != now_text:
            conclusions.append(ConclusionChange(name, was, now_text))
    return Changes(
        first_report=False,
        estimates=tuple(estimates),
        trials=tuple(trials),
        conclusions=tuple(conclusions),
        analyses_added=tuple(sorted(set(now) - set(before))),
        analyses_removed=tuple(sorted(set(before) - set(now))),
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.suffix in (".json", ".csv")
    }


def _replace_folder(target: Path, files: dict[str, bytes]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*"):
        if stale.name not in files:
            stale.unlink()
    for name, data in files.items():
        write_bytes_atomic(target / name, data)


def baseline_dir(results_dir: str | Path) -> Path | None:
    """The results the report compares with: those behind the last report whose results
    differ from the current ones. ``previous/last`` holds the results of the last good report
    and ``previous/baseline`` the results before them; a rerun on unchanged results keeps
    comparing with the same baseline, so it gives the same report."""
    root = Path(results_dir)
    last, baseline = root / "previous" / "last", root / "previous" / "baseline"
    if not last.is_dir():
        return None
    if _snapshot(last) != _snapshot(root / "analyses"):
        return last
    return baseline if baseline.is_dir() else None


def keep_as_previous(results_dir: str | Path) -> None:
    """After a good report: the last report's results become the baseline when they differ
    from the current ones, and the current results become ``previous/last``."""
    root = Path(results_dir)
    current = _snapshot(root / "analyses")
    last = root / "previous" / "last"
    if last.is_dir() and _snapshot(last) != current:
        _replace_folder(root / "previous" / "baseline", _snapshot(last))
    _replace_folder(last, current)
