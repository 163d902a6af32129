"""The workflow config: schema checks with file:line messages, safe paths, known tables."""

from pathlib import Path

import pytest
import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.config import load_config

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
        (
            "kinds: [forest, subgroups, leave_one_out",
            "kinds: [forest, violin, leave_one_out",
            "defaults.figures.kinds.1",
            "'violin' is not one of ['forest', 'subgroups', 'leave_one_out'",
        ),
        (
            "formats: [svg, png]",
            "formats: [svg, pdf]",
            "defaults.figures.formats.1",
            "'pdf' is not one of ['svg', 'png']",
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
    marker = tmp_path / "hacked"
    text = f"review: !!python/object/apply:os.system ['touch {marker}']\n"
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path / 'config.yaml'}:1:9: the tag !!python/object/apply:os.system is not "
        "allowed: evsynth reads plain YAML values only; remove it"
    ]
    assert not marker.exists()
    assert yaml.safe_load(SHIPPED)  # the shipped config itself is plain YAML


def test_figure_setting_defaults_to_everything_and_merges_per_analysis(tmp_path: Path) -> None:
    from evsynth.plots.output import ALL_FIGURES, FIGURE_FORMATS, FIGURE_KINDS
    from evsynth.validate.config import DEFAULTS, figure_settings

    schema = yaml.safe_load((ROOT / "evsynth/schemas/config.schema.yaml").read_text())
    figures = schema["$defs"]["figures"]["properties"]
    assert tuple(figures["kinds"]["items"]["enum"]) == FIGURE_KINDS
    assert tuple(figures["formats"]["items"]["enum"]) == FIGURE_FORMATS
    assert DEFAULTS["figures"] == ALL_FIGURES
    assert {"kinds": figures["kinds"]["default"], "formats": figures["formats"]["default"]} == (
        ALL_FIGURES
    )
    shipped = figure_settings(load_config(ROOT / "config/config.yaml", project_dir=ROOT))
    assert all(setting == ALL_FIGURES for setting in shipped.values())

    # Without a figures setting anywhere: everything. An analysis that sets only the
    # formats keeps the default kinds.
    setting = ("figures:", "kinds:", "formats:")
    lines = [line for line in SHIPPED.splitlines() if not line.lstrip().startswith(setting)]
    text = "\n".join(lines) + "\n"
    text = text.replace(
        "    nnt_trial: Wallace2011\n",
        "    nnt_trial: Wallace2011\n    figures: {formats: [svg]}\n",
        1,
    )
    assert "figures:" in text and "kinds:" not in text
    settings = figure_settings(load_config(write(tmp_path, text), project_dir=ROOT))
    assert settings["fractures-hip"] == ALL_FIGURES
    assert settings["kidney-stones"] == {"kinds": ALL_FIGURES["kinds"], "formats": ["svg"]}


def test_the_rules_import_the_config_without_the_engine() -> None:
    """Snakemake imports evsynth.validate.config at every start (a no-op run too): the public API is
    loaded on first use, so this does not pull in scipy, pandas or the engine."""
    import subprocess
    import sys

    code = (
        "import sys, evsynth.validate.config, evsynth.workflow\n"
        "heavy = {'scipy', 'pandas', 'evsynth.meta.pooling'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "import evsynth\n"
        "assert sorted(evsynth.__all__) == sorted(evsynth._EXPORTS)\n"
        "assert evsynth.pool is evsynth.meta.pooling.pool\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
