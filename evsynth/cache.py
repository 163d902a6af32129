"""Content-addressed caches: each analysis's results and each analysis's figures, reused when
their inputs have not changed.

A living review changes one trial at a time. The analyse and figures jobs run once per
dataset (one Snakemake job each, cheap to schedule locally and on a cluster), and inside the
job the unit of reuse is the analysis:

* an analysis's **input key** is the SHA-256 of what :func:`evsynth.analysis.run.run_analysis`
  reads: the processed rows its ``where`` filter passes (their text in the processed table,
  with the table's column names and types), its resolved settings (with the review's words
  and variable titles it is given) and the library (:func:`library_fingerprint`: the source
  of the stage's modules and the versions of the numerical libraries);
* a figure set's key is the SHA-256 of the analysis's results (the exact bytes written to the
  results JSON), its ``figures`` setting and the plotting library's fingerprint.

An entry is stored under its key, written atomically, and carries the SHA-256 of its own
payload: a damaged entry is a miss, never a result. The same inputs give the same bytes
whether an entry was computed now or reused, so a rerun's outputs are byte-identical to a
clean run's. The caches live in ``results/cache/`` of the review (same file system as the
results, so figures are published by hard links and renames) and can be deleted at any time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from evsynth.io.safe_io import write_bytes_atomic

#: Bump when the layout of a cache entry or of a key changes: old entries become misses.
FORMAT = "evsynth-cache-1"

#: The installed libraries whose versions enter a stage's fingerprint.
STAGE_LIBRARIES = {
    "engine": ("numpy", "scipy", "pandas", "numba", "statsmodels"),
    "plots": ("numpy", "matplotlib"),
    "report": ("jinja2",),
}


def digest(*parts: str | bytes) -> str:
    """SHA-256 (hex) of ``parts``, each preceded by its length, so that no two different
    sequences of parts hash the same bytes."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    """``value`` as JSON with sorted keys and no spaces: the text its digest is taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=8)
def library_fingerprint(part: str) -> str:
    """SHA-256 of the evsynth sources a stage runs (:func:`evsynth.workflow.library_sources`,
    by their path inside the package and their bytes), the Python version and the versions of
    the libraries it computes with (:data:`STAGE_LIBRARIES`). A change to any of them changes
    every key of that stage."""
    from evsynth.workflow import PACKAGE_DIR, library_sources

    parts: list[str | bytes] = [FORMAT, part, sys.version]
    for name in STAGE_LIBRARIES.get(part, ()):
        try:
            parts.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} absent")
    sources = library_sources(part, root=PACKAGE_DIR)
    if part != "engine":  # the subpackage and the top-level modules it imports (format, ...)
        sources += [p.name for p in sorted(PACKAGE_DIR.glob("*.py"))]
    for source in sources:
        parts += [source, (PACKAGE_DIR / source).read_bytes()]
    return digest(*parts)


# --- which rows an analysis reads --------------------------------------------------------------


class RowIndex:
    """The rows of a processed table, by the value of a column as a ``where`` filter sees it.

    ``positions(where)`` gives the positions of the rows that pass the filter, in table order,
    exactly as :func:`evsynth.analysis.select.matches` decides row by row (values compare as
    text), but by a lookup per column instead of a pass over every row for every analysis.
    ``text(positions)`` is the text of those rows in the processed CSV file.
    """

    def __init__(self, frame: pd.DataFrame, lines: Sequence[str]) -> None:
        if len(lines) != len(frame):
            raise ValueError(f"{len(lines)} lines of text for {len(frame)} rows")
        self.frame = frame
        self.lines = lines
        self._by_column: dict[str, dict[str | None, list[int]]] = {}

    def _column(self, column: str) -> dict[str | None, list[int]]:
        from evsynth.analysis.words import value_key as _text  # the text a filter compares

        if column not in self._by_column:
            groups: dict[str | None, list[int]] = {}
            if column in self.frame.columns:
                series = self.frame[column]
                values = series.astype(object).where(series.notna(), None).tolist()
            else:
                values = [None] * len(self.frame)
            for position, value in enumerate(values):
                groups.setdefault(_text(value), []).append(position)
            self._by_column[column] = groups
        return self._by_column[column]

    def positions(self, where: Mapping[str, Any]) -> list[int]:
        """Positions of the rows that pass ``where`` (column: value or list of values)."""
        from evsynth.analysis.words import value_key as _text

        chosen: set[int] | None = None
        for column, wanted in where.items():
            options = wanted if isinstance(wanted, list) else [wanted]
            groups = self._column(column)
            found: set[int] = set()
            for text in {_text(o) for o in options}:
                found.update(groups.get(text, ()))
            chosen = found if chosen is None else chosen & found
        if chosen is None:
            return list(range(len(self.frame)))
        return sorted(chosen)

    def text(self, positions: Iterable[int]) -> str:
        return "\n".join(self.lines[p] for p in positions)

    def signature(self) -> str:
        """The column names and types of the table (a type decided by the whole column
        changes how every row's values are read)."""
        return canonical_json([[str(c), str(t)] for c, t in self.frame.dtypes.items()])


def table_lines(path: str | Path) -> list[str]:
    """The data rows of a processed CSV file as canonical text (the parsed cells joined by a
    unit separator): one string per row, in the order pandas reads them."""
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return ["\x1f".join(cells) for cells in reader if cells]


def analysis_key(spec: Mapping[str, Any], rows: RowIndex, positions: Sequence[int]) -> str:
    """The input key of one analysis (see the module's docstring)."""
    return digest(
        FORMAT,
        "analysis",
        library_fingerprint("engine"),
        canonical_json(spec),
        rows.signature(),
        rows.text(positions),
    )


def figures_key(data_digest: str, settings: Mapping[str, Any] | None) -> str:
    """The key of one analysis's figure set: its results' digest, its figures setting, the
    plotting library."""
    return digest(
        FORMAT, "figures", library_fingerprint("plots"), data_digest, canonical_json(settings)
    )


# --- the stores --------------------------------------------------------------------------------


class Store:
    """A folder of entries named by key. A blob entry is one file whose first line holds its
    key and the SHA-256 of the rest; a folder entry (:meth:`put_folder`) is a folder holding
    ``entry.json`` (the SHA-256 of each file) written last."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (absent or damaged)."""
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        header, _, payload = data.partition(b"\n")
        if header != f"{FORMAT} {key} {hashlib.sha256(payload).hexdigest()}".encode():
            return None
        return payload

    def put(self, key: str, payload: bytes) -> None:
        header = f"{FORMAT} {key} {hashlib.sha256(payload).hexdigest()}\n".encode()
        write_bytes_atomic(self.path(key), header + payload, durable=False)

    def get_folder(self, key: str) -> dict[str, str] | None:
        """``{file name: SHA-256}`` of a complete folder entry, or None. Each file must still
        have the size and modification time it had when stored (a file edited in place,
        through a hard link, is a miss); the bytes are checked when the report reads them."""
        folder = self.path(key)
        try:
            entry = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
            if entry.get("format") != FORMAT:
                return None
            out = {}
            for name, kept in entry["files"].items():
                info = (folder / name).stat()
                if [info.st_size, info.st_mtime_ns] != [kept["size"], kept["mtime_ns"]]:
                    return None
                out[str(name)] = str(kept["sha256"])
            return out
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def staging(self) -> Path:
        """A new empty folder beside the entries, to draw a folder entry into."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=self.folder, prefix=".staging-"))

    def put_folder(self, key: str, staged: Path) -> dict[str, str]:
        """Make the folder ``staged`` (from :meth:`staging`) the entry ``key``: record each
        file's SHA-256, size and modification time in ``entry.json``, written last, and
        rename the folder into place. Returns ``{file name: SHA-256}``."""
        files = {}
        for p in sorted(staged.iterdir()):
            if p.is_file():
                info = p.stat()
                files[p.name] = {
                    "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                    "size": info.st_size,
                    "mtime_ns": info.st_mtime_ns,
                }
        write_bytes_atomic(
            staged / "entry.json",
            (json.dumps({"format": FORMAT, "files": files}, indent=1) + "\n").encode(),
            durable=False,
        )
        target = self.path(key)
        if target.exists():  # a damaged entry: replace it
            shutil.rmtree(target)
        os.replace(staged, target)
        return {name: str(kept["sha256"]) for name, kept in files.items()}

    def keep_only(self, keys: Iterable[str]) -> int:
        """Delete every entry but ``keys`` (and stray staging folders); how many went."""
        keep = set(keys)
        removed = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.iterdir():
            if path.name in keep:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed += 1
        return removed


# --- a dataset's results JSON from the analyses' texts -------------------------------------------


@dataclass(frozen=True)
class Assembled:
    """The bytes of a dataset's results JSON and where each analysis lies in them."""

    data: bytes
    spans: tuple[tuple[int, int], ...]  # (offset, length) of each analysis, in order


def analysis_text(analysis: Mapping[str, Any]) -> str:
    """One analysis as JSON, as :func:`assemble` places it (sorted keys, indent 1)."""
    return json.dumps(analysis, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)


def _indented(text: str, depth: int) -> str:
    pad = " " * depth
    return pad + text.replace("\n", "\n" + pad)


def assemble(dataset: str, analyses: Sequence[str], markers: Sequence[Any]) -> Assembled:
    """The dataset's results JSON (``{"analyses": [...], "dataset": ..., "markers": [...]}``),
    byte for byte what ``json.dumps(results, sort_keys=True, indent=1, ensure_ascii=False,
    allow_nan=False) + "\\n"`` gives, built from each analysis's :func:`analysis_text` (JSON
    strings hold no raw newline, so indenting a text is inserting spaces after its newlines).
    """
    out = bytearray(b'{\n "analyses": ')
    spans = []
    if analyses:
        out += b"[\n"
        for i, text in enumerate(analyses):
            piece = _indented(text, 2).encode("utf-8")
            spans.append((len(out) + 2, len(piece) - 2))
            out += piece
            out += b",\n" if i < len(analyses) - 1 else b"\n"
        out += b" ]"
    else:
        out += b"[]"
    out += b',\n "dataset": ' + json.dumps(dataset, ensure_ascii=False).encode("utf-8")
    tail = json.dumps(list(markers), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    out += b',\n "markers": ' + tail.replace("\n", "\n ").encode("utf-8") + b"\n}\n"
    return Assembled(bytes(out), tuple(spans))
