"""What the report compares with: the results behind the last report with different results."""

from pathlib import Path

from evsynth.report.changes import baseline_dir, keep_as_previous


def write(results: Path, text: str) -> None:
    (results / "analyses").mkdir(parents=True, exist_ok=True)
    (results / "analyses" / "fractures.json").write_text(text, encoding="utf-8")


def test_first_report_then_changes_then_stable_reruns(tmp_path: Path) -> None:
    write(tmp_path, '{"v": 1}')
    assert baseline_dir(tmp_path) is None  # first report
    keep_as_previous(tmp_path)
    assert baseline_dir(tmp_path) is None  # a rerun on the same results: still nothing to compare

    write(tmp_path, '{"v": 2}')
    base = baseline_dir(tmp_path)
    assert base is not None and (base / "fractures.json").read_text() == '{"v": 1}'
    keep_as_previous(tmp_path)
    again = baseline_dir(tmp_path)  # rerun on v2 compares with v1 again: same report
    assert again is not None and (again / "fractures.json").read_text() == '{"v": 1}'

    write(tmp_path, '{"v": 3}')
    newest = baseline_dir(tmp_path)
    assert newest is not None and (newest / "fractures.json").read_text() == '{"v": 2}'


def test_nothing_is_kept_when_the_report_was_not_written(tmp_path: Path) -> None:
    write(tmp_path, '{"v": 1}')
    assert not (tmp_path / "previous").exists()
