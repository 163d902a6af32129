"""Versions a reviewer releases: ``results/versions/N/``, and what "what changed" compares with.

``make release`` (``evsynth release``) stamps the current report as version N. The release is
a Snakemake job of its own (``workflow/rules/release.smk``) whose outputs are the version's
folder:

* ``report.html``: the report rendered as version N (its number, date and data hash shown);
* ``report.json``: what it was made from (see :func:`evsynth.stages.report_stage`);
* ``analyses/{dataset}.json`` and ``analyses/{dataset}_summary.csv``: its results;
* ``version.json``: ``{"number", "date", "data_hash", "files"}``, written last (a folder
  without it is not a version).

The report rule never writes there. It reads one version, declared as its input: the last
released version, or the one the reviewer names (``make report COMPARE_WITH=3``, i.e.
``--config compare_with=3``), and "What changed" says which. The date is the one value taken
from the clock, at release time: ``SOURCE_DATE_EPOCH`` (seconds since 1970, as UTC) when set,
else today's date; the report itself never reads the clock.

The data hash identifies the extracted data a version was made from: the SHA-256 of the
``sha256sum`` listing of the raw tables the config names, in the config's order of names
sorted, i.e. ``cd REVIEW && sha256sum data/raw/a.csv data/raw/b.csv | sha256sum`` (paths as
the config gives them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evsynth.errors import EvsynthError

VERSIONS = "versions"
VERSION_FILE = "version.json"


class VersionError(EvsynthError):
    """A version that does not exist or cannot be read."""


def versions_dir(results: str | Path) -> Path:
    return Path(results) / VERSIONS


def released(results: str | Path) -> list[int]:
    """The numbers of the released versions (folders ``N`` holding ``version.json``), in order."""
    folder = versions_dir(results)
    if not folder.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in folder.iterdir()
        if p.name.isdigit() and not p.name.startswith("0") and (p / VERSION_FILE).is_file()
    )


def version_folder(results: str | Path, number: int) -> Path:
    return versions_dir(results) / str(number)


def read_version(folder: str | Path) -> dict[str, Any]:
    """``{"number", "date", "data_hash"}`` of the version in ``folder``."""
    path = Path(folder) / VERSION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            "number": int(data["number"]),
            "date": str(data["date"]),
            "data_hash": data["data_hash"],
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise VersionError(f"{path}: not a readable version file ({error})") from None


def baseline(
    results: str | Path, compare_with: int | str | None = None, before: int | None = None
) -> Path | None:
    """The version folder "What changed" compares with: version ``compare_with`` when given
    (an error naming the released versions if there is none), else the last released version
    (below ``before``, the version being released), else None (no version released yet)."""
    numbers = released(results)
    if compare_with not in (None, ""):
        text = str(compare_with)
        if not text.isdigit() or int(text) not in numbers:
            shown = ", ".join(map(str, numbers)) or "none yet (make release makes version 1)"
            raise VersionError(
                f"compare_with={compare_with}: there is no released version {compare_with} "
                f"under {versions_dir(results)}; released versions: {shown}"
            )
        return version_folder(results, int(text))
    earlier = [n for n in numbers if before is None or n < before]
    return version_folder(results, earlier[-1]) if earlier else None


def next_number(results: str | Path) -> int:
    numbers = released(results)
    return numbers[-1] + 1 if numbers else 1


def data_hash(config: Mapping[str, Any], root: str | Path = ".") -> str:
    """SHA-256 of the ``sha256sum`` listing of the review's raw tables (module docstring)."""
    raw = config["paths"]["raw"]
    listing = ""
    for table in sorted(config["tables"]):
        relative = f"{raw}/{table}.csv"
        digest = hashlib.sha256((Path(root) / relative).read_bytes()).hexdigest()
        listing += f"{digest}  {relative}\n"
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def release_date(environ: Mapping[str, str] | None = None) -> str:
    """The release date (YYYY-MM-DD): from ``SOURCE_DATE_EPOCH`` (UTC) when set, else today."""
    environ = os.environ if environ is None else environ
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            seconds = int(epoch)
        except ValueError:
            raise VersionError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds since 1970"
            ) from None
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date().isoformat()
    return dt.date.today().isoformat()
