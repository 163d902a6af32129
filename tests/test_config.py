"""The workflow config: schema checks with file:line messages, safe paths, known tables."""

from pathlib import Path

import pytest
import yaml

from evsynth.config import load_config
from evsynth.errors import DataValidationError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config/config.yaml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(DataValidationError) as caught:
        load_config(write(tmp_path, text), project_dir=ROOT)
    return caught.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_config_is_valid_and_gets_defaults() -> None:
    config = load_config(ROOT / "config/config.yaml", project_dir=ROOT)
    hip = config["analyses"]["fractures-hip"]
    assert hip["method"] == "REML" and hip["ci_method"] == "hksj" and hip["level"] == 0.95


@pytest.mark.parametrize(
    ("old", "new", "key", "word"),
    [
        (
            "measure: RR\n    events_are: harmful\n    subgroups: [dose_band",
            "measure: XX\n    events_are: harmful\n    subgroups: [dose_band",
            "analyses.fractures-hip.measure",
            "not one of",
        ),
        ("method: REML ", "method: BAYES ", "defaults.method", "not one of"),
        ("level: 0.95", "level: 1.5", "defaults.level", "1.5"),
        (
            "events_are: harmful\n    subgroups: [calcium",
            "events_are: maybe\n    subgroups: [calcium",
            "analyses.kidney-stones.events_are",
            "not one of",
        ),
    ],
)
def test_bad_values_name_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, word: str
) -> None:
    assert old in SHIPPED
    text = SHIPPED.replace(old, new, 1)
    found = problems(tmp_path, text)
    needle = new.split("\n")[0].strip()
    expected_line = line_of(text, needle)
    assert any(f":{expected_line}: {key}" in p and word in p for p in found), found


def test_path_outside_the_project_is_refused(tmp_path: Path) -> None:
    text = SHIPPED.replace("raw: data/raw", "raw: ../../etc", 1)
    found = problems(tmp_path, text)
    assert any("paths.raw" in p and "leaves the project directory" in p for p in found)
    assert any(f":{line_of(text, 'raw: ../../etc')}:" in p for p in found)


def test_analysis_of_an_unknown_table_is_refused(tmp_path: Path) -> None:
    text = SHIPPED.replace("dataset: kidney_stones", "dataset: kidneys", 1)
    found = problems(tmp_path, text)
    assert any("analyses.kidney-stones.dataset" in p and "'kidneys'" in p for p in found)


def test_unknown_setting_and_invalid_yaml(tmp_path: Path) -> None:
    found = problems(tmp_path, SHIPPED + "\nsurprise: 1\n")
    assert any("surprise" in p for p in found)
    found = problems(tmp_path, "review: [unclosed\n")
    assert found[0].startswith(str(tmp_path / "config.yaml") + ":")
    assert "invalid YAML" in found[0]


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    text = "review: !!python/object/apply:os.system ['echo hacked']\n"
    found = problems(tmp_path, text)
    assert "invalid YAML" in found[0]
    assert yaml.safe_load(SHIPPED)  # the shipped config itself is plain YAML
