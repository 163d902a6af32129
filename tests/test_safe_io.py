"""Atomic writes, deterministic CSV and CSV-injection neutralisation."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.io import safe_io
from evsynth.io.safe_io import (
    csv_text,
    neutralise_text,
    read_processed,
    restore_text,
    write_bytes_atomic,
    write_csv,
    write_text_atomic,
)


def test_write_text_atomic_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "first ≥ µ\n")
    write_text_atomic(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temp file left


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.bin"
    write_bytes_atomic(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(safe_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "'quoted"])
def test_formula_like_text_is_neutralised(text: str) -> None:
    assert neutralise_text(text) == "'" + text
    assert restore_text(neutralise_text(text)) == text


@pytest.mark.parametrize("text", ["plain", "1.5", "a=b", "", "<0.001"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert neutralise_text(text) == text
    assert restore_text(text) == text


def test_numeric_cells_are_untouched_and_repr_exact() -> None:
    frame = pd.DataFrame(
        {
            "text": ["-0.5", "=cmd", None],
            "number": [-0.5, 0.1 + 0.2, math.nan],
            "count": pd.array([-3, 7, None], dtype="Int64"),
            "flag": pd.array([True, False, None], dtype="boolean"),
        }
    )
    lines = csv_text(frame).split("\n")
    assert lines[0] == "text,number,count,flag"
    assert lines[1] == "'-0.5,-0.5,-3,true"
    assert lines[2] == "'=cmd,0.30000000000000004,7,false"
    assert lines[3] == ",,,"
    assert float(lines[2].split(",")[1]) == 0.1 + 0.2


def test_csv_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "row_id": ["a.csv:2", "a.csv:5"],
            "quote": ['multi\nline, with "quotes" ≥ µ', "-212 pmol/L"],
            "effect": [np.float64(1 / 3), 2.0],
            "n": pd.array([10, None], dtype="Int64"),
            "include": [True, False],
        }
    )
    path = tmp_path / "t.csv"
    write_csv(frame, path)
    back = read_processed(path)
    assert back["quote"].tolist() == frame["quote"].tolist()
    assert back["effect"].tolist() == [1 / 3, 2.0]
    assert back["n"].iloc[0] == 10 and pd.isna(back["n"].iloc[1])
    assert back["include"].tolist() == [True, False]
    assert path.read_bytes().count(b"\r") == 0


@pytest.mark.parametrize("durable", [True, False])
def test_durable_writes_are_flushed_to_disk_before_the_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    events: list[str] = []
    real_fsync, real_replace = safe_io.os.fsync, safe_io.os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(safe_io.os, "fsync", fsync)
    monkeypatch.setattr(safe_io.os, "replace", replace)
    target = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"a": [1]}), target, durable=durable)
    assert events == (["fsync", "replace"] if durable else ["replace"])
    assert target.read_text(encoding="utf-8") == "a\n1\n"
