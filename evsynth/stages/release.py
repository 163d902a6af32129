"""Stage 5: stamp the current results as a released version (``results/versions/N``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.io.safe_io import write_bytes_atomic, write_text_atomic
from evsynth.stages.report import report_stage
from evsynth.stages.run import datasets


def release_stage(
    config: Mapping[str, Any],
    number: int,
    folder: str | Path,
    *,
    baseline: str | Path | None = None,
) -> dict[str, Any]:
    """Stamp the current results as version ``number`` in ``folder`` (``results/versions/N``;
    :mod:`evsynth.versions`): the report rendered as that version, what it embeds, the
    results, and ``version.json`` last. Returns the version's ``{"number", "date",
    "data_hash"}``."""
    from evsynth.versions import VERSION_FILE, data_hash, release_date

    target = Path(folder)
    info = {"number": int(number), "date": release_date(), "data_hash": data_hash(config)}
    report_stage(
        config,
        target / "report.html",
        record=target / "report.json",
        baseline=baseline,
        version_info=info,
        cache=Path(config["paths"]["results"]) / "cache",
    )
    analyses = Path(config["paths"]["results"]) / "analyses"
    for dataset in datasets(config):
        for name in (f"{dataset}.json", f"{dataset}_summary.csv"):
            write_bytes_atomic(target / "analyses" / name, (analyses / name).read_bytes())
    files = {
        str(p.relative_to(target)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(target.rglob("*"))
        if p.is_file() and p.name != VERSION_FILE
    }
    text = json.dumps({**info, "files": files}, indent=1, ensure_ascii=False) + "\n"
    write_text_atomic(target / VERSION_FILE, text)
    return info
