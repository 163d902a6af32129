"""Rendered analysis sections, reused from one report to the next.

The report shows each analysis as one section (the ``analysis_block`` macro: its sentences,
tables and inlined figures). In a review of many analyses, rendering those sections is most of
the report's time, and a living review changes a few of them at a time. Each rendered section
is kept in ``results/cache/report/`` under the SHA-256 of everything it is made from:

* the analysis's results: the SHA-256 of its bytes in the results file, from the results
  index (:func:`evsynth.stages.analyse.index_path_of`), used only when the index describes the
  results file the report reads;
* its figure files (each file's name and the SHA-256 of its text);
* the review's config and the texts of its report settings and narrative;
* the report and engine code and the versions of the libraries they use
  (:func:`evsynth.cache.library_fingerprint`).

A section reads nothing else (not the other analyses, not the version it is compared with;
its GRADE certainty is a function of the analysis and the settings), so a reused section is
byte for byte what rendering it again gives, and the report is byte-identical to a clean
run's. Entries carry the SHA-256 of their payload (:class:`evsynth.cache.Store`): a damaged
entry is rendered again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from evsynth.cache import FORMAT, Store, canonical_json, digest, library_fingerprint
from evsynth.io.safe_io import write_text_atomic


def results_digests(folder: str | Path, hashes: Mapping[str, str]) -> dict[str, str]:
    """``{analysis id: SHA-256 of its results}`` from the results indexes in ``folder``, for
    the datasets whose index describes the results file the report read (``hashes``: ``{file
    name: SHA-256 of the bytes read}``); an index that does not (an interrupted or
    hand-edited run) contributes nothing, and those sections are rendered."""
    out: dict[str, str] = {}
    for name, sha256 in hashes.items():
        index_path = Path(folder) / name.replace(".json", ".index.json")
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if index.get("results_sha256") != sha256:
            continue
        out.update({entry["id"]: entry["data"] for entry in index.get("entries", [])})
    return out


@dataclass
class Fragments:
    """The store of rendered sections of one report run, and what it rendered and reused."""

    store: Store
    common: str  # digest of what every section reads besides its own analysis and figures
    data: Mapping[str, str]  # analysis id -> SHA-256 of its results
    rendered: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def key(self, analysis_id: str, figures: Mapping[str, str]) -> str | None:
        """The section's key, or None when the analysis's results digest is unknown."""
        data = self.data.get(analysis_id)
        if data is None:
            return None
        files = [
            f"{name}\0{hashlib.sha256(text.encode('utf-8')).hexdigest()}"
            for name, text in sorted(figures.items())
        ]
        return digest(FORMAT, "report-section", self.common, analysis_id, data, *files)

    def section(
        self, analysis_id: str, figures: Mapping[str, str], render: Callable[[], str]
    ) -> Markup:
        """The section of ``analysis_id``: reused when stored, else ``render()`` and stored."""
        key = self.key(analysis_id, figures)
        stored = self.store.get(key) if key is not None else None
        if stored is not None:
            self.reused.append(analysis_id)
            html = stored.decode("utf-8")
        else:
            self.rendered.append(analysis_id)
            html = str(render())
            if key is not None:
                self.store.put(key, html.encode("utf-8"))
        if key is not None:
            self.keys.append(key)
        return Markup(html)  # the macro's own output, escaped as it was rendered

    def finish(self, record: str | Path) -> None:
        """Drop the entries this report did not use; write what was rendered to ``record``."""
        self.store.keep_only(self.keys)
        text = json.dumps({"rendered": self.rendered, "reused": len(self.reused)}, indent=1)
        write_text_atomic(record, text + "\n", durable=False)


def open_fragments(
    cache: str | Path,
    config: Mapping[str, Any],
    texts: Iterable[str],
    data: Mapping[str, str],
) -> Fragments:
    """The section store in ``{cache}/report``. ``texts``: the review's report settings and
    narrative as read (empty when absent); ``data``: :func:`results_digests`."""
    common = digest(
        library_fingerprint("report"),
        library_fingerprint("engine"),
        canonical_json(config),
        *texts,
    )
    return Fragments(Store(Path(cache) / "report"), common, data)
