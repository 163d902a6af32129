"""Every stage in order without Snakemake (``evsynth run``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.stages.analyse import write_analyses
from evsynth.stages.figures import write_figures
from evsynth.stages.report import report_stage
from evsynth.stages.validate import validate_stage


def datasets(config: Mapping[str, Any]) -> list[str]:
    """The tables the analyses and marker sets read."""
    return sorted(
        {s["dataset"] for s in config["analyses"].values()}
        | {s["dataset"] for s in config["markers"].values()}
    )


def run_all(config: Mapping[str, Any], workers: int = 1) -> Path:
    """Every stage in order for a review (``evsynth run``): the report's path. It compares
    with the last released version and uses the review's cache (``results/cache``)."""
    from evsynth.versions import baseline

    results = Path(config["paths"]["results"])
    processed = Path(config["paths"]["processed"])
    cache = results / "cache"
    validate_stage(config)
    for dataset in datasets(config):
        analysis = results / "analyses" / f"{dataset}.json"
        write_analyses(
            config,
            dataset,
            processed / f"{dataset}.csv",
            analysis,
            results / "analyses" / f"{dataset}_summary.csv",
            workers,
            cache=cache,
        )
        write_figures(
            config,
            analysis,
            results / "figures",
            results / "figures" / f"{dataset}.figures.json",
            workers,
            cache=cache,
        )
    return report_stage(
        config,
        results / "report.html",
        record=results / "report.json",
        baseline=baseline(results),
        cache=cache,
    )
