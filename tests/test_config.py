"""The review config: the schema, the checks a schema cannot express, file:line messages at
the line of the key at fault, and the defaults every analysis inherits.

The configs under test are made up (supervised exercise for low back pain): a ``pain`` table
of 2×2 counts with a foreign key into a ``trials`` table of trial facts."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.config import (
    ANALYSIS_OPTIONAL,
    DEFAULT_PATHS,
    DEFAULTS,
    figure_settings,
    load_config,
    with_defaults,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIGS = [
    ROOT / "config" / "config.yaml",
    *sorted((ROOT / "tests" / "reviews").glob("*/config/config.yaml")),
    *sorted((ROOT / "evsynth" / "examples").glob("*/config/config.yaml")),
]

TRIALS_SCHEMA = """\
table: trials
columns:
  study_id: {type: string, nullable: false}
  year: {type: integer}
  sessions_per_week: {type: number}
  weeks: {type: integer}
  supervised: {type: boolean}
unique: [study_id]
foreign_keys: []
checks: []
"""
PAIN_SCHEMA = """\
table: pain
columns:
  study_id: {type: string, nullable: false}
  events_treat: {type: integer}
  n_treat: {type: integer}
  events_control: {type: integer}
  n_control: {type: integer}
unique: [study_id]
foreign_keys:
  - {columns: [study_id], table: trials}
checks: []
"""
# Published estimates without a CI or SE column: no analysis can use them.
BARE_SCHEMA = """\
table: bare
columns:
  study_id: {type: string, nullable: false}
  effect_measure: {type: string}
  effect: {type: number}
unique: [study_id]
foreign_keys: []
checks: []
"""

# The line numbers in the tests below are those of this text (line 1 = "review:").
BASE = """\
review:
  title: "Supervised exercise for low back pain"
  intervention: "supervised exercise"
  control: "usual care"
tables: [trials, pain, bare]
derived:
  total_sessions: {product: [sessions_per_week, weeks]}
  dose_band: {cut: total_sessions, breaks: [24], labels: ["<24", "≥24"]}
defaults:
  method: REML
  level: 0.95
analyses:
  pain:
    title: "Chronic pain"
    dataset: pain
    measure: RR
    higher_is: worse
    subgroups: [supervised, dose_band]
    moderators: [total_sessions]
    sensitivity:
      - {title: "Supervised trials only", where: {supervised: true}}
  pain-or:
    title: "Chronic pain (odds ratio)"
    dataset: pain
    measure: OR
    model: fixed
    fixed_method: MH
"""


def test_the_base_config_is_as_the_line_numbers_say() -> None:
    lines = BASE.splitlines()
    assert lines[9] == "  method: REML"  # line 10
    assert lines[15] == "    measure: RR"  # line 16
    assert lines[20].startswith("      - {title:")  # line 21
    assert lines[26] == "    fixed_method: MH"  # line 27


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A review folder holding the schemas of the three tables."""
    (tmp_path / "config").mkdir()
    (tmp_path / "schemas").mkdir()
    for name, text in (("trials", TRIALS_SCHEMA), ("pain", PAIN_SCHEMA), ("bare", BARE_SCHEMA)):
        (tmp_path / "schemas" / f"{name}.schema.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "config" / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(folder: Path, text: str) -> list[str]:
    path = write(folder, text)
    with pytest.raises(DataValidationError) as caught:
        load_config(path)
    return [p.removeprefix(f"{path}:") for p in caught.value.problems]


def edited(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# --------------------------------------------------------------------------- valid configs


def test_the_base_config_is_valid(folder: Path) -> None:
    config = load_config(write(folder, BASE))
    assert sorted(config["analyses"]) == ["pain", "pain-or"]


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config["analyses"]
    for spec in config["analyses"].values():
        assert set(DEFAULTS) | set(ANALYSIS_OPTIONAL) <= set(spec)


def test_the_shipped_configs_are_all_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SHIPPED_CONFIGS}
    assert "config/config.yaml" in names
    assert "tests/reviews/bcg/config/config.yaml" in names
    assert "evsynth/examples/binary/config/config.yaml" in names
    assert "evsynth/examples/continuous/config/config.yaml" in names


# --------------------------------------------------------------------------- line numbers


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("measure: RR", "measure: XX", "16: analyses.pain.measure: 'XX' is not one of"),
        ("method: REML", "method: BAYES", "10: defaults.method: 'BAYES' is not one of"),
        ("level: 0.95", "level: 1.5", "11: defaults.level: 1.5 is greater than or equal"),
        ("higher_is: worse", "higher_is: maybe", "17: analyses.pain.higher_is: 'maybe'"),
        (
            "where: {supervised: true}}",
            "where: {supervised: true}, input: all}",
            "21: analyses.pain.sensitivity.0.input: 'all' is not one of",
        ),
        (
            "fixed_method: MH",
            "fixed_method: MH\n    figures:\n      kinds: [forest, violin]",
            "29: analyses.pain-or.figures.kinds.1: 'violin' is not one of",
        ),
        (
            "breaks: [24]",
            "breaks: 24",
            "8: derived.dose_band.breaks: expected a list but found the number 24",
        ),
    ],
)
def test_a_bad_value_names_the_file_the_line_of_its_key_and_the_key(
    folder: Path, old: str, new: str, expected: str
) -> None:
    found = problems(folder, edited(old, new))
    assert any(p.startswith(expected) for p in found), found


def test_the_file_is_named_in_every_message(folder: Path) -> None:
    path = write(folder, edited("measure: RR", "measure: XX"))
    with pytest.raises(DataValidationError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:16: analyses.pain.measure: 'XX' is not one of "
        "['RR', 'OR', 'RD', 'MD', 'SMD', 'HR', 'IRR']"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("higher_is: worse\n", "higher_is: worse\n    surprise: 1\n", "18: analyses.pain.surprise"),
        ("level: 0.95\n", "level: 0.95\n  ci_mehtod: z\n", "12: defaults.ci_mehtod"),
        ("tables: [", "extra: 1\ntables: [", "5: extra"),
        (
            'control: "usual care"\n',
            'control: "usual care"\n  comparator: x\n',
            "5: review.comparator",
        ),
    ],
)
def test_an_unknown_key_is_rejected_at_its_own_line(
    folder: Path, old: str, new: str, expected: str
) -> None:
    (found,) = problems(folder, edited(old, new))
    assert found.startswith(f"{expected}: unknown key; ")
    if "mehtod" in expected:
        assert found.endswith("did you mean 'ci_method'?")


def test_invalid_yaml_names_the_file_and_line(folder: Path) -> None:
    path = write(folder, BASE + "analyses_extra: [unclosed\n")
    with pytest.raises(DataValidationError) as caught:
        load_config(path)
    (message,) = caught.value.problems
    assert message.startswith(f"{path}:") and "invalid YAML" in message
    assert int(message.removeprefix(f"{path}:").split(":")[0]) >= len(BASE.splitlines())


def test_yaml_tags_are_not_executed(folder: Path) -> None:
    marker = folder / "executed"
    text = f"review: !!python/object/apply:os.system ['touch {marker}']\n"
    (message,) = problems(folder, text)
    assert message == (
        "1:9: the tag !!python/object/apply:os.system is not allowed: evsynth reads plain "
        "YAML values only; remove it"
    )
    assert not marker.exists()


# --------------------------------------------------------------------------- columns


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "column"),
    [
        (
            "subgroups: [supervised,",
            "subgroups: [blinding,",
            18,
            "analyses.pain.subgroups",
            "blinding",
        ),
        (
            "moderators: [total_sessions]",
            "moderators: [intensity]",
            19,
            "analyses.pain.moderators",
            "intensity",
        ),
        (
            "where: {supervised: true}}",
            "where: {setting: clinic}}",
            21,
            "analyses.pain.sensitivity.0",
            "setting",
        ),
        (
            "    measure: RR\n",
            "    measure: RR\n    where: {outcome: pain}\n",
            17,
            "analyses.pain.where",
            "outcome",
        ),
        (
            "    measure: RR\n",
            "    measure: RR\n    dose_response: {variable: minutes}\n",
            17,
            "analyses.pain.dose_response",
            "minutes",
        ),
    ],
)
def test_a_column_missing_from_the_dataset_is_an_error_naming_it_and_the_schema(
    folder: Path, old: str, new: str, line: int, key: str, column: str
) -> None:
    found = problems(folder, edited(old, new))
    assert found == [
        f"{line}: {key}: column {column!r} is not a column of pain (schemas/pain.schema.yaml), "
        "of a table it joins, or a derived column; fix the name or add the column"
    ]


def test_columns_of_joined_tables_and_derived_columns_are_known(folder: Path) -> None:
    # supervised is a trials column (joined through the foreign key); dose_band and
    # total_sessions are derived from trials columns; row_id is added by the validate stage
    text = edited(
        "    measure: RR\n",
        "    measure: RR\n    where: {row_id: [pain.csv:2]}\n"
        "    dose_response: {variable: total_sessions, where: {dose_band: ≥24}}\n",
    )
    config = load_config(write(folder, text))
    assert config["analyses"]["pain"]["dose_response"]["variable"] == "total_sessions"


def test_a_derived_column_whose_inputs_are_absent_is_not_a_column(folder: Path) -> None:
    text = edited("  dose_band:", "  per_arm: {ratio: [events_treat, arms]}\n  dose_band:").replace(
        "moderators: [total_sessions]", "moderators: [per_arm]"
    )
    (found,) = problems(folder, text)
    assert found.startswith("20: analyses.pain.moderators: column 'per_arm' is not a column")


def test_the_schema_file_is_named_by_its_path_in_the_review(folder: Path) -> None:
    (folder / "tables").mkdir()
    (folder / "schemas").rename(folder / "tables" / "schemas")
    text = "paths:\n  schemas: tables/schemas\n" + edited(
        "moderators: [total_sessions]", "moderators: [intensity]"
    )
    (found,) = problems(folder, text)
    assert "(tables/schemas/pain.schema.yaml)" in found
    assert found.startswith("21: analyses.pain.moderators:")


@pytest.mark.parametrize(
    ("measure", "needs"),
    [
        (
            "MD",
            "mean_treat, sd_treat, n_treat, mean_control, sd_control, n_control or "
            "effect_measure, effect",
        ),
        ("HR", "effect_measure, effect"),
    ],
)
def test_a_measure_whose_columns_are_missing_is_an_error(
    folder: Path, measure: str, needs: str
) -> None:
    found = problems(folder, edited("measure: RR", f"measure: {measure}"))
    assert found == [
        f"16: analyses.pain.measure: a {measure} analysis needs the columns {needs} in pain "
        "(schemas/pain.schema.yaml)"
    ]


def test_published_estimates_without_ci_or_se_are_an_error(folder: Path) -> None:
    text = edited(
        "dataset: pain\n    measure: OR\n    model: fixed\n    fixed_method: MH\n",
        "dataset: bare\n    measure: OR\n",
    )
    assert problems(folder, text) == [
        "25: analyses.pain-or.measure: published estimates need ci_low and ci_high, or se, in bare"
    ]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "measure: OR\n    model: fixed\n    fixed_method: MH",
            "measure: MD\n    model: fixed\n    fixed_method: MH",
            "27: analyses.pain-or.fixed_method: MH needs 2x2 tables (RR, OR or RD)",
        ),
        (
            "measure: OR\n    model: fixed\n    fixed_method: MH",
            "measure: RR\n    model: fixed\n    fixed_method: Peto",
            "27: analyses.pain-or.fixed_method: Peto's method gives an odds ratio: use measure OR",
        ),
        (
            "measure: RR\n",
            "measure: RR\n    accept: [HR, MD]\n",
            "17: analyses.pain.accept: MD cannot enter a RR analysis (ratios and differences "
            "do not mix)",
        ),
        (
            "measure: OR\n    model: fixed\n    fixed_method: MH",
            "measure: MD\n    control_risk: {from: median}",
            "26: analyses.pain-or.control_risk: absolute risks need a binary or hazard ratio",
        ),
    ],
)
def test_a_model_that_does_not_suit_the_measure_is_an_error(
    folder: Path, old: str, new: str, expected: str
) -> None:
    assert expected in problems(folder, edited(old, new))


def test_a_fixed_method_inherited_from_defaults_is_checked_too(folder: Path) -> None:
    text = edited("level: 0.95\n", "level: 0.95\n  model: fixed\n  fixed_method: Peto\n")
    found = problems(folder, text)
    # both analyses inherit Peto: the RR analysis is refused at its own line
    assert (
        "15: analyses.pain.fixed_method: Peto's method gives an odds ratio: use measure OR" in found
    )


def test_a_review_in_md_with_control_risk_is_refused_but_rr_with_one_is_not(folder: Path) -> None:
    text = edited("measure: RR\n", "measure: RR\n    control_risk: {value: 0.2, source: cohort}\n")
    assert load_config(write(folder, text))["analyses"]["pain"]["control_risk"]["value"] == 0.2


# --------------------------------------------------------------------------- derived columns


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "total_sessions: {product: [sessions_per_week, weeks]}",
            "total_sessions: {product: [sessions_per_week, weeks], sum: [weeks, year]}",
            "7: derived.total_sessions: give exactly one of sum, product, ratio, difference, "
            "greater, equals, cut, column (found sum, product)",
        ),
        (
            'labels: ["<24", "≥24"]',
            'labels: ["<24", "24-36", "≥36"]',
            "8: derived.dose_band.labels: 1 breaks make 2 bands: give that many labels",
        ),
        (
            'breaks: [24], labels: ["<24", "≥24"]',
            "breaks: [24]",
            "8: derived.dose_band.labels: 1 breaks make 2 bands: give that many labels",
        ),
        (
            'breaks: [24], labels: ["<24", "≥24"]',
            'breaks: [36, 24], labels: ["a", "b", "c"]',
            "8: derived.dose_band.breaks: breaks must increase",
        ),
        (
            'breaks: [24], labels: ["<24", "≥24"]',
            'breaks: [24, 24], labels: ["a", "b", "c"]',
            "8: derived.dose_band.breaks: breaks must increase",
        ),
        (
            "total_sessions: {product: [sessions_per_week, weeks]}",
            "total_sessions: {ratio: [sessions_per_week, weeks], times: 7}",
            "7: derived.total_sessions: times / divide_by apply to product, sum or column only",
        ),
        (
            "total_sessions: {product: [sessions_per_week, weeks]}",
            "total_sessions: {ratio: [sessions_per_week, weeks], divide_by: 7}",
            "7: derived.total_sessions: times / divide_by apply to product, sum or column only",
        ),
        (
            "total_sessions: {product: [sessions_per_week, weeks]}",
            "total_sessions: {column: weeks}",
            "7: derived.total_sessions: column: give times or divide_by (a constant factor)",
        ),
        (
            "total_sessions: {product: [sessions_per_week, weeks]}",
            "total_sessions: {sum: [total_sessions, weeks]}",
            "7: derived.total_sessions: a derived column cannot read itself",
        ),
    ],
)
def test_derived_column_problems(folder: Path, old: str, new: str, expected: str) -> None:
    assert expected in problems(folder, edited(old, new))


def test_divide_by_zero_is_refused_by_the_schema(folder: Path) -> None:
    text = edited(
        "{product: [sessions_per_week, weeks]}", "{product: [sessions_per_week], divide_by: 0}"
    )
    (found,) = problems(folder, text)
    assert found.startswith("7: derived.total_sessions.divide_by:")


# --------------------------------------------------------------------------- paths, tables


@pytest.mark.parametrize("target", ["../elsewhere", "/etc", "data/../../outside"])
def test_a_path_leaving_the_review_folder_is_refused(folder: Path, target: str) -> None:
    text = f"paths:\n  processed: data/processed\n  raw: {target}\n" + BASE
    assert problems(folder, text) == [
        f"3: paths.raw: {target!r} leaves the review folder; use a path inside it"
    ]


def test_a_path_inside_the_review_folder_is_accepted(folder: Path) -> None:
    text = "paths:\n  raw: data/../data/raw\n" + BASE
    assert load_config(write(folder, text))["paths"]["raw"] == "data/../data/raw"


def test_an_analysis_of_an_unlisted_table_is_refused(folder: Path) -> None:
    found = problems(
        folder, edited("dataset: pain\n    measure: RR", "dataset: pains\n    measure: RR")
    )
    assert found == [
        "15: analyses.pain.dataset: 'pains' is not one of the tables ['bare', 'pain', 'trials']; "
        "add it to 'tables' or fix the name"
    ]


# --------------------------------------------------------------------------- defaults


MINIMAL = {
    "review": {"title": "t", "intervention": "i", "control": "c"},
    "tables": ["pain"],
    "defaults": {"ci_method": "z", "figures": {"formats": ["svg"]}},
    "analyses": {
        "a": {"title": "A", "dataset": "pain", "measure": "RR"},
        "b": {
            "title": "B",
            "dataset": "pain",
            "measure": "OR",
            "method": "DL",
            "figures": {"kinds": ["forest"]},
        },
    },
    "markers": {"m": {"title": "M", "dataset": "pain"}},
}


def test_with_defaults_fills_every_default() -> None:
    config = with_defaults(MINIMAL)
    assert config["paths"] == DEFAULT_PATHS
    a = config["analyses"]["a"]
    for key, value in DEFAULTS.items():
        if key not in ("ci_method", "figures"):
            assert a[key] == value, key
    for key, value in ANALYSIS_OPTIONAL.items():
        assert a[key] == value, key
    assert a["ci_method"] == "z"  # from the config's defaults
    assert config["analyses"]["b"]["method"] == "DL"  # the analysis's own setting wins
    assert config["analyses"]["b"]["ci_method"] == "z"
    assert config["markers"]["m"]["where"] == {}
    assert config["derived"] == {} and config["variables"] == {}


def test_with_defaults_merges_figures_key_by_key() -> None:
    config = with_defaults(MINIMAL)
    assert config["defaults"]["figures"] == {
        "kinds": DEFAULTS["figures"]["kinds"],
        "formats": ["svg"],
    }
    assert figure_settings(config) == {
        "a": {"kinds": DEFAULTS["figures"]["kinds"], "formats": ["svg"]},
        "b": {"kinds": ["forest"], "formats": ["svg"]},
    }


def test_with_defaults_does_not_change_its_input() -> None:
    before = copy.deepcopy(MINIMAL)
    with_defaults(MINIMAL)
    assert before == MINIMAL


def test_the_default_ci_is_never_narrower_than_wald() -> None:
    assert DEFAULTS["ci_method"] == "hksj_modified"
    schema = yaml.safe_load((ROOT / "evsynth/schemas/config.schema.yaml").read_text("utf-8"))
    settings = schema["$defs"]["settings"]["properties"]
    assert set(DEFAULTS) <= set(settings)


def test_the_rules_import_the_config_without_the_engine() -> None:
    """Snakemake imports evsynth.validate.config at every start (a no-op run too): the public
    API is loaded on first use, so this does not pull in scipy, pandas or the engine."""
    code = (
        "import sys, evsynth.validate.config, evsynth.workflow\n"
        "heavy = {'scipy', 'pandas', 'evsynth.meta.pooling'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
