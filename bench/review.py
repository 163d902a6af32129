"""A synthetic review folder of many binary outcomes, for the pipeline benchmark and the
cluster check.

``write_review(folder, n_outcomes, n_studies)`` writes a review folder of its own (the layout
of ``evsynth new``): ``config/config.yaml``, ``data/raw/studies.csv`` (one row per trial:
year, region, dose), ``data/raw/outcomes.csv`` (one row per trial and outcome: the four
counts) and ``schemas/*.schema.yaml``. Counts are realistic (control risks 2-20%, arms of
100-5,000 people, true risk ratios around 0.9 with heterogeneity). The config has one RR
analysis per outcome with a subgroup (region) and a moderator (dose); the figures are the
forest plot of each outcome and its subgroup forest plot, SVG only (what the report inlines).
``config/report.yaml`` shows the first outcomes in full (sections and Summary of Findings), as
a review of many outcomes would; without it the report inlines every outcome's figures.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import yaml

#: The figures of the synthetic review: forest plots only (each outcome's, and by subgroup),
#: SVG only.
FIGURES = {"kinds": ["forest", "subgroups"], "formats": ["svg"]}

STUDIES_SCHEMA = {
    "table": "studies",
    "columns": {
        "study_id": {"type": "string", "nullable": False, "regex": "[A-Za-z]+[0-9]{4}[a-z]*"},
        "year": {"type": "integer", "nullable": False, "min": 1900, "max": 2100},
        "region": {"type": "string", "nullable": False, "allowed": ["north", "south"]},
        "dose": {"type": "number", "nullable": False, "min": 0},
    },
    "unique": ["study_id"],
    "foreign_keys": [],
    "checks": [],
}


def outcomes_schema(outcomes: list[str]) -> dict[str, Any]:
    return {
        "table": "outcomes",
        "columns": {
            "study_id": {"type": "string", "nullable": False, "regex": "[A-Za-z]+[0-9]{4}[a-z]*"},
            "outcome": {"type": "string", "nullable": False, "allowed": outcomes},
            "events_treat": {"type": "integer", "nullable": False, "min": 0},
            "n_treat": {"type": "integer", "nullable": False, "min": 1},
            "events_control": {"type": "integer", "nullable": False, "min": 0},
            "n_control": {"type": "integer", "nullable": False, "min": 1},
        },
        "unique": ["study_id", "outcome"],
        "foreign_keys": [
            {"columns": ["study_id"], "table": "studies", "ref_columns": ["study_id"]}
        ],
        "checks": [
            {
                "check": "counts_within_n",
                "pairs": [["events_treat", "n_treat"], ["events_control", "n_control"]],
            }
        ],
    }


def config(outcomes: list[str], figures: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "review": {
            "title": "A synthetic review of many outcomes",
            "intervention": "the treatment",
            "control": "no treatment",
        },
        "tables": ["studies", "outcomes"],
        "variables": {
            "region": {"title": "Region"},
            "dose": {"title": "Dose", "unit": "mg"},
        },
        "defaults": {"figures": figures or FIGURES},
        "analyses": {
            o: {
                "title": f"Outcome {o[1:]}",
                "dataset": "outcomes",
                "where": {"outcome": o},
                "measure": "RR",
                "higher_is": "worse",
                "subgroups": ["region"],
                "moderators": ["dose"],
            }
            for o in outcomes
        },
    }


def outcome_names(n_outcomes: int) -> list[str]:
    return [f"o{i:05d}" for i in range(n_outcomes)]


def report_settings(outcomes: list[str], shown: int) -> dict[str, Any]:
    """A report that shows the first ``shown`` outcomes in full (their section, figures and
    Summary of Findings row); every outcome's results are in the results files."""
    chosen = outcomes[:shown]
    return {
        "sections": [{"id": "results", "heading": "Results", "analyses": chosen}],
        "sof": chosen,
    }


def write_review(
    folder: str | Path,
    n_outcomes: int,
    n_studies: int = 20,
    seed: int = 7,
    figures: dict[str, list[str]] | None = None,
    shown: int | None = 10,
) -> Path:
    """Write the synthetic review folder (see the module's docstring); returns it. The report
    shows the first ``shown`` outcomes (None: every outcome, the default of a review without
    ``config/report.yaml``)."""
    root = Path(folder)
    rng = np.random.default_rng(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    studies = [
        {
            "study_id": f"Trial{2000 + s % 25}{letters[s // 25 % 26]}",
            "year": str(2000 + s % 25),
            "region": "north" if rng.random() < 0.5 else "south",
            "dose": str(int(rng.choice([10, 20, 40, 80]))),
        }
        for s in range(n_studies)
    ]
    outcomes = outcome_names(n_outcomes)
    rows = []
    for o in outcomes:
        log_rr = rng.normal(np.log(0.9), 0.15, n_studies)
        for s, study in enumerate(studies):
            n1, n2 = (int(x) for x in rng.integers(100, 5000, 2))
            p2 = rng.uniform(0.02, 0.2)
            p1 = min(0.95, p2 * np.exp(log_rr[s]))
            rows.append(
                {
                    "study_id": study["study_id"],
                    "outcome": o,
                    "events_treat": str(rng.binomial(n1, p1)),
                    "n_treat": str(n1),
                    "events_control": str(rng.binomial(n2, p2)),
                    "n_control": str(n2),
                }
            )
    write_csv(root / "data/raw/studies.csv", studies)
    write_csv(root / "data/raw/outcomes.csv", rows)
    _write_yaml(root / "schemas/studies.schema.yaml", STUDIES_SCHEMA)
    _write_yaml(root / "schemas/outcomes.schema.yaml", outcomes_schema(outcomes))
    _write_yaml(root / "config/config.yaml", config(outcomes, figures))
    if shown is not None:
        _write_yaml(root / "config/report.yaml", report_settings(outcomes, shown))
    return root


def change_one_count(folder: str | Path, row: int = 0) -> str:
    """Add one event to the control arm of data row ``row`` of outcomes.csv; the outcome (the
    analysis) whose count changed."""
    path = Path(folder) / "data/raw/outcomes.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[row]["events_control"] = str(int(rows[row]["events_control"]) + 1)
    write_csv(path, rows)
    return rows[row]["outcome"]


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
