"""What changed since the report compared with, in words a reader can follow.

:func:`compare` takes the current and the previous results (both ``{dataset: analysis JSON}``)
with the sentences and GRADE certainty the same rules draw from each, and lists
- every pooled line (overall and each subgroup group) whose displayed numbers changed, with
  each number as previous → current (:class:`LineChange`), and a change of direction flagged;
- every trial added to or removed from an analysis, by name, with its reason (a row the
  analysis now excludes carries the exclusion's reason), and every trial whose counts or
  published estimate changed (:class:`RowChange`);
- every change of GRADE certainty (:class:`CertaintyChange`), flagged when it falls;
- every conclusion whose wording changed, as a word-level difference (:class:`ConclusionChange`).
Analyses and subgroups are named by their titles, trials by their labels. Numbers are compared
as displayed (formatted by :mod:`evsynth.format`), so noise below the shown precision is not a
change. Which report the previous results belong to (a released version or the previous run)
is :func:`against_text`'s sentence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evsynth import format as fmt
from evsynth.io.safe_io import write_bytes_atomic
from evsynth.report import context as ctx
from evsynth.report import rules
from evsynth.report.grade import Certainty

DIRECTION_WORDS = {
    "benefit": "benefit",
    "harm": "harm",
    "no_difference": "no clear difference",
    "not_estimable": "not estimable",
}


@dataclass(frozen=True)
class Part:
    """One displayed number of a compared line: its label, previous and current text."""

    label: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class LineChange:
    """A pooled line (overall, or one group of a subgroup analysis) whose numbers changed."""

    analysis: str  # the analysis's title
    anchor: str
    line: str  # "All trials" or "<subgroup title>: <group>"
    parts: tuple[Part, ...]
    direction: Part | None = None  # set when the direction of the effect changed

    @property
    def changed_parts(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.changed)


@dataclass(frozen=True)
class RowChange:
    """A trial added to, removed from, newly excluded from, or changed in an analysis."""

    analysis: str
    anchor: str
    study: str  # the trial's label
    kind: str  # "added", "removed", "excluded" or "changed"
    rows: tuple[str, ...]  # raw rows (current ones; the previous ones when removed)
    reason: str = ""
    parts: tuple[Part, ...] = ()

    @property
    def row_anchors(self) -> tuple[tuple[str, str], ...]:
        return tuple((r, ctx.anchor(r)) for r in self.rows)


@dataclass(frozen=True)
class CertaintyChange:
    analysis: str
    anchor: str
    old: str
    new: str
    old_symbols: str
    new_symbols: str
    fell: bool


@dataclass(frozen=True)
class Segment:
    """A run of words of a sentence: the same in both versions (``old == new``) or changed."""

    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class ConclusionChange:
    key: str
    old: str
    new: str
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class Changes:
    first_report: bool
    against: str = ""
    lines: tuple[LineChange, ...] = field(default_factory=tuple)
    rows: tuple[RowChange, ...] = field(default_factory=tuple)
    certainty: tuple[CertaintyChange, ...] = field(default_factory=tuple)
    conclusions: tuple[ConclusionChange, ...] = field(default_factory=tuple)
    analyses_added: tuple[str, ...] = field(default_factory=tuple)
    analyses_removed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (
            self.lines
            or self.rows
            or self.certainty
            or self.conclusions
            or self.analyses_added
            or self.analyses_removed
        )

    @property
    def estimates(self) -> tuple[LineChange, ...]:
        """The changed pooled lines (the name earlier versions used)."""
        return self.lines


def pooled_analyses(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """All pooled analyses of all datasets, by id."""
    return {a["id"]: a for ds in results.values() for a in ds.get("analyses", [])}


def against_text(version: Mapping[str, Any] | None) -> str:
    """Which report the previous results belong to: "version 3 of 2026-11-30 (data
    a1b2c3d4e5f6)" for a released version, "the previous run" otherwise."""
    if not version:
        return "the previous run"
    text = f"version {version['number']}"
    if version.get("date"):
        text += f" of {version['date']}"
    if version.get("data_hash"):
        text += f" (data {str(version['data_hash'])[:12]})"
    return text


# --- pooled lines ---------------------------------------------------------------------------


def _line_parts(analysis: Mapping[str, Any], p: Mapping[str, Any]) -> dict[str, str]:
    shown = ctx.pooled_line(analysis, p, "")
    level = fmt.level(analysis.get("level", 0.95))
    return {
        rules.measure_code(analysis): shown["estimate"],
        f"{level} CI": shown["ci"],
        "Trials": shown["trials"],
        "Participants": shown["participants"],
        "I²": shown["i2"],
    }


def _pooled_lines(analysis: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Line label → pooled result: "All trials" and "<subgroup title>: <group>"."""
    out: dict[str, Mapping[str, Any]] = {}
    if analysis.get("overall"):
        out["All trials"] = analysis["overall"]
    for key, sub in (analysis.get("subgroups") or {}).items():
        for g in sub.get("groups", []):
            out[f"{sub.get('title', key)}: {g['group']}"] = g
    return out


def summary_estimates(analysis: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Line label → its displayed numbers (label → text) of every pooled line."""
    return {label: _line_parts(analysis, p) for label, p in _pooled_lines(analysis).items()}


def _compare_lines(now: Mapping[str, Any], before: Mapping[str, Any]) -> list[LineChange]:
    new_lines, old_lines = _pooled_lines(now), _pooled_lines(before)
    out = []
    for label in [*new_lines, *(k for k in old_lines if k not in new_lines)]:
        new = _line_parts(now, new_lines[label]) if label in new_lines else {}
        old = _line_parts(before, old_lines[label]) if label in old_lines else {}
        names = [*new, *(k for k in old if k not in new)]
        parts = tuple(Part(n, old.get(n, "absent"), new.get(n, "absent")) for n in names)
        was = rules.direction(before, old_lines[label]) if label in old_lines else "not_estimable"
        is_ = rules.direction(now, new_lines[label]) if label in new_lines else "not_estimable"
        turn = Part("Direction", DIRECTION_WORDS[was], DIRECTION_WORDS[is_])
        if any(p.changed for p in parts) or turn.changed:
            out.append(
                LineChange(
                    now["title"],
                    "analysis-" + now["id"],
                    label,
                    parts,
                    turn if turn.changed else None,
                )
            )
    return out


# --- trials ---------------------------------------------------------------------------------


def _keyed(items: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Trials by study id; a study id that repeats (several comparisons shown apart) is told
    apart by its comparison."""
    ids = [str(s.get("study_id")) for s in items]
    out = {}
    for s, sid in zip(items, ids, strict=True):
        key = sid if ids.count(sid) == 1 else f"{sid} | {s.get('comparison') or s.get('row_id')}"
        out[key] = s
    return out


def _study_parts(analysis: Mapping[str, Any], s: Mapping[str, Any]) -> dict[str, str]:
    row = ctx.study_row(s, analysis, [])
    arms = list(analysis.get("arm_labels") or ["Intervention", "Control"])
    level = fmt.level(analysis.get("level", 0.95))
    parts = {arms[0]: row["treat"], arms[1]: row["control"]} if row["arms"] else {}
    return {**parts, str(row["measure"]): row["effect"], f"{level} CI": row["ci"]}


def _rows_of(s: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(s.get("row_ids") or [s["row_id"]])


def _compare_trials(now: Mapping[str, Any], before: Mapping[str, Any]) -> list[RowChange]:
    title, anchor = now["title"], "analysis-" + now["id"]
    new, old = _keyed(now["studies"]), _keyed(before["studies"])
    new_out, old_out = _keyed(now.get("excluded") or []), _keyed(before.get("excluded") or [])
    out = []
    for key, s in new.items():
        if key not in old:
            reason = (
                f"previously not pooled ({old_out[key].get('reason')}); now pooled"
                if key in old_out
                else "new in the data"
            )
            out.append(RowChange(title, anchor, str(s["label"]), "added", _rows_of(s), reason))
            continue
        now_parts, old_parts = _study_parts(now, s), _study_parts(before, old[key])
        parts = tuple(Part(n, old_parts.get(n, "absent"), v) for n, v in now_parts.items())
        if any(p.changed for p in parts):
            out.append(RowChange(title, anchor, str(s["label"]), "changed", _rows_of(s), "", parts))
    for key, s in old.items():
        if key in new:
            continue
        if key in new_out:
            out.append(
                RowChange(
                    title,
                    anchor,
                    str(s["label"]),
                    "removed",
                    _rows_of(new_out[key]),
                    f"now excluded: {new_out[key].get('reason') or 'no reason given'}",
                )
            )
        else:
            out.append(
                RowChange(
                    title, anchor, str(s["label"]), "removed", _rows_of(s), "no longer in the data"
                )
            )
    for key, e in new_out.items():
        if key not in old_out and key not in old:
            reason = str(e.get("reason") or "no reason given")
            out.append(
                RowChange(title, anchor, str(e["study_id"]), "excluded", _rows_of(e), reason)
            )
    return out


# --- certainty and conclusions --------------------------------------------------------------


def _compare_certainty(
    now: Mapping[str, Any], new: Certainty | None, old: Certainty | None
) -> CertaintyChange | None:
    if new is None or old is None or new.label == old.label:
        return None
    return CertaintyChange(
        now["title"],
        "analysis-" + now["id"],
        old.label,
        new.label,
        old.symbols,
        new.symbols,
        new.level < old.level,
    )


#: Tokens of a sentence: runs of white space, numbers ("1,387", "0.96"), words, and each other
#: character on its own, so "0.96," and "0.91," differ in the number only.
_TOKEN = re.compile(r"\s+|\d+(?:[.,]\d+)*|\w+|[^\w\s]")


def word_diff(old: str, new: str) -> tuple[Segment, ...]:
    """The two sentences as runs of tokens, the same or changed (difflib's opcodes on words,
    numbers and punctuation), so a reader sees "0.96 → 0.94" and not two struck-through
    sentences. Joined, the ``old`` parts give ``old`` and the ``new`` parts give ``new``."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    out: list[Segment] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        was, now = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            out.append(Segment(was, was))
            continue
        out.append(Segment(was, now))
    return tuple(_merge_whitespace(out))


def _merge_whitespace(segments: list[Segment]) -> list[Segment]:
    """Fold a change that is white space only into its neighbours, and a run of equal white
    space between two changes into one change, so marks cover whole phrases."""
    out: list[Segment] = []
    for s in segments:
        if out and s.changed and out[-1].changed:
            out[-1] = Segment(out[-1].old + s.old, out[-1].new + s.new)
        elif (
            len(out) >= 2
            and s.changed
            and not out[-1].changed
            and not out[-1].old.strip()
            and out[-2].changed
        ):
            gap = out.pop().old
            out[-1] = Segment(out[-1].old + gap + s.old, out[-1].new + gap + s.new)
        else:
            out.append(s)
    return out


def _compare_conclusions(
    current: Mapping[str, str], previous: Mapping[str, str]
) -> list[ConclusionChange]:
    out = []
    for name in [*current, *(k for k in previous if k not in current)]:
        was, now = previous.get(name, ""), current.get(name, "")
        if was != now:
            out.append(
                ConclusionChange(name, was or "(none)", now or "(none)", word_diff(was, now))
            )
    return out


def compare(
    current: Mapping[str, Mapping[str, Any]],
    previous: Mapping[str, Mapping[str, Any]] | None,
    current_conclusions: Mapping[str, str],
    previous_conclusions: Mapping[str, str] | None,
    *,
    current_certainty: Mapping[str, Certainty] | None = None,
    previous_certainty: Mapping[str, Certainty] | None = None,
    previous_version: Mapping[str, Any] | None = None,
) -> Changes:
    """Everything that changed between the previous results and the current ones."""
    if previous is None:
        return Changes(first_report=True)
    now, before = pooled_analyses(current), pooled_analyses(previous)
    lines: list[LineChange] = []
    trials: list[RowChange] = []
    certainty: list[CertaintyChange] = []
    for aid in [a for a in now if a in before]:
        lines += _compare_lines(now[aid], before[aid])
        trials += _compare_trials(now[aid], before[aid])
        change = _compare_certainty(
            now[aid], (current_certainty or {}).get(aid), (previous_certainty or {}).get(aid)
        )
        if change is not None:
            certainty.append(change)
    return Changes(
        first_report=False,
        against=against_text(previous_version),
        lines=tuple(lines),
        rows=tuple(trials),
        certainty=tuple(certainty),
        conclusions=tuple(_compare_conclusions(current_conclusions, previous_conclusions or {})),
        analyses_added=tuple(now[a]["title"] for a in now if a not in before),
        analyses_removed=tuple(before[a]["title"] for a in before if a not in now),
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
