"""The YAML loader every settings file goes through: safe, strict, and line-accurate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.errors import DataValidationError
from evsynth.io.yamlfile import (
    MAX_VALUES,
    YamlDocument,
    check_document,
    load_yaml,
    parse_yaml,
    schema_problems,
    validate_document,
)
from evsynth.validate.config import validate_config

ROOT = Path(__file__).resolve().parent.parent


def problems(data: bytes | str, what: str = "config") -> list[str]:
    with pytest.raises(DataValidationError) as caught:
        parse_yaml(data, "f.yaml", what=what)
    return caught.value.problems


# --------------------------------------------------------------------------- reading


def test_lines_of_keys_and_items() -> None:
    text = (
        "# a comment\n"
        "review:\n"
        "  title: x\n"
        "analyses:\n"
        "  hip:\n"
        "    subgroups:\n"
        "      - dose\n"
        "      - form\n"
        "    measure: RR\n"
    )
    doc = parse_yaml(text, "f.yaml", what="config")
    assert doc.data == yaml.safe_load(text)
    assert doc.line(()) == 2  # where the top-level mapping starts
    assert doc.line(("review", "title")) == 3
    assert doc.line(("analyses", "hip", "subgroups", 1)) == 8
    assert doc.line(("analyses", "hip", "measure")) == 9
    # An absent key: its nearest ancestor's line.
    assert doc.line(("analyses", "hip", "method")) == 5
    assert doc.line(("nowhere", "at", "all")) == 2
    assert YamlDocument("f.yaml", {}, {}).line(("a",)) == 0  # no lines known: 0, not 1


def test_crlf_and_bom_keep_lines_and_data() -> None:
    text = "a: 1\r\nb:\r\n  c: 2\r\n"
    doc = parse_yaml(b"\xef\xbb\xbf" + text.encode(), "f.yaml", what="config")
    assert doc.data == {"a": 1, "b": {"c": 2}}
    assert doc.line(("b", "c")) == 3


@pytest.mark.parametrize(
    "path",
    sorted(
        [
            *(ROOT / "config").glob("*.yaml"),
            *(ROOT / "workflow" / "schemas").glob("*.yaml"),
            *(ROOT / "tests" / "data" / "second_review").rglob("*.yaml"),
        ]
    ),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_shipped_yaml_reads_as_safe_load_reads_it(path: Path) -> None:
    doc = load_yaml(path, what="file")
    assert doc.data == yaml.safe_load(path.read_text(encoding="utf-8"))


_keys = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
_scalars = st.one_of(st.integers(-1000, 1000), st.sampled_from(["x", "RR", "a b", ""]))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_keys, inner, min_size=1, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_keys, _values, min_size=1, max_size=5), st.booleans())
def test_every_key_is_on_its_line(data: dict[str, Any], flow: bool) -> None:
    """For any document PyYAML writes, the data equal safe_load's and every key path's line
    holds that key (or, for an item of a list, lies within the document)."""
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False)
    doc = parse_yaml(text, "f.yaml", what="config")
    assert doc.data == data
    lines = text.splitlines()
    for path, line in doc.lines.items():
        assert 1 <= line <= len(lines)
        if path and not path[-1].isdigit():
            assert path[-1] in lines[line - 1]


# --------------------------------------------------------------------------- refused


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as caught:
        load_yaml(tmp_path / "none.yaml", what="narrative")
    assert caught.value.problems == [
        f"{tmp_path / 'none.yaml'}: cannot read the narrative: the file does not exist"
    ]
    with pytest.raises(DataValidationError) as caught:
        load_yaml(tmp_path, what="narrative")
    assert caught.value.problems == [
        f"{tmp_path}: cannot read the narrative: this is a folder, not a file"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n# comments\n", "---\n", "~\n"])
def test_empty_documents(text: str) -> None:
    assert problems(text) == ["f.yaml: the file is empty; expected a mapping of settings"]


def test_top_level_must_be_a_mapping() -> None:
    assert problems("\n- a\n- b\n", what="report settings") == [
        "f.yaml:2: the report settings must be a mapping of settings (key: value lines), but "
        "the file holds a list"
    ]
    assert problems("just text\n") == [
        "f.yaml:1: the config must be a mapping of settings (key: value lines), but the file "
        "holds a single value ('just text')"
    ]


def test_not_utf8_names_line_and_column() -> None:
    # Column counts characters: "é" before the bad byte is one character, two bytes.
    data = "a: 1\nb: é".encode() + b"\xe9\n"
    assert problems(data) == [
        "f.yaml:2:5: byte 0xe9 is not valid UTF-8 (the first bad byte); save the file as "
        "UTF-8 (it looks like Latin-1 or Windows-1252)"
    ]


def test_every_control_character_is_reported() -> None:
    found = problems("a: x\x00y\nb: ok\nc: \x1b[0m\x85\n")
    assert found == [
        "f.yaml:1:5: the control character U+0000 (NUL) is not allowed (it is invisible in "
        "most editors); delete it",
        "f.yaml:3:4: the control character U+001B (ESC) is not allowed (it is invisible in "
        "most editors); delete it",
        "f.yaml:3:8: the control character U+0085 is not allowed (it is invisible in most "
        "editors); delete it",
    ]
    assert parse_yaml("a: 'tab\there'\n", "f.yaml", what="config").data == {"a": "tab\there"}


def test_duplicate_keys_at_any_depth() -> None:
    text = "a: 1\nitems:\n  - name: x\n    value: 1\n    name: y\na: 2\nb: {c: 1, c: 2}\n"
    assert problems(text) == [
        "f.yaml:5: items.0: key 'name' appears twice (lines 3 and 5); keep one",
        "f.yaml:6: key 'a' appears twice (lines 1 and 6); keep one",
        "f.yaml:7: b: key 'c' appears twice (lines 7 and 7); keep one",
    ]


def test_anchors_and_merge_keys_are_plain_yaml() -> None:
    text = "base: &base {method: DL, level: 0.9}\nhip:\n  <<: *base\n  level: 0.95\ncopy: *base\n"
    doc = parse_yaml(text, "f.yaml", what="config")
    assert doc.data["hip"] == {"method": "DL", "level": 0.95}
    assert doc.data["copy"] == {"method": "DL", "level": 0.9}
    assert doc.line(("hip", "level")) == 4


def test_alias_bombs_and_recursion_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    found = problems("\n".join(lines) + "\n")
    assert len(found) == 1 and f"more than {MAX_VALUES:,} values" in found[0]
    assert problems("a: &a [1, *a]\n") == [
        "f.yaml:1: an alias (*name) refers to a value that contains it; remove the alias"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: [1, 2\nb: 3\n",
            "f.yaml:2:2: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
            "sequence that starts on line 1); close the list with ']'",
        ),
        (
            "title: A: B\n",
            "f.yaml:1:9: invalid YAML: mapping values are not allowed in this context; a value "
            "that contains ': ' must be quoted",
        ),
        (
            "a: *nothing\n",
            "f.yaml:1:4: invalid YAML: found undefined alias; an alias (*name) "
            "needs an anchor (&name) before it",
        ),
        (
            "a: !!python/object/apply:os.system ['true']\n",
            "f.yaml:1:4: the tag !!python/object/apply:os.system is not allowed: evsynth reads "
            "plain YAML values only; remove it",
        ),
        (
            "a: !custom 1\n",
            "f.yaml:1:4: the tag !custom is not allowed: evsynth reads plain YAML values only; "
            "remove it",
        ),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize("text", ["a:\n  b: 1\n\tc: 2\n", "a:\n\tb: 1\n"])
def test_a_tab_in_the_indentation_gets_its_hint(text: str) -> None:
    """libyaml and PyYAML word the error differently; the place and the hint are ours."""
    (found,) = problems(text)
    line = text.count("\n", 0, text.index("\t")) + 1
    assert found.startswith(f"f.yaml:{line}:") and "invalid YAML" in found
    assert found.endswith("; indent with spaces: YAML does not allow tabs here")


# --------------------------------------------------------------------------- JSON Schema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "analyses"],
    "properties": {
        "title": {"type": "string"},
        "analyses": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z-]+$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["measure"],
                "properties": {
                    "measure": {"enum": ["RR", "OR"]},
                    "level": {"type": "number", "maximum": 1},
                    "subgroups": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "notes": {
            "type": "object",
            "patternProperties": {"^x-": {}},
            "additionalProperties": False,
        },
    },
}

DOCUMENT = """\
# settings
titel: Review
analyses:
  hip:
    measure: rr
    levl: 0.9
    subgroups: [dose, 3]
  Total fractures:
    measure: OR
notes:
  x-one: fine
  other: no
"""


def test_schema_errors_are_at_the_line_of_the_key_at_fault() -> None:
    doc = parse_yaml(DOCUMENT, "f.yaml", what="config")
    assert validate_document(doc, SCHEMA) == [
        "f.yaml:2: titel: unknown key; did you mean 'title'?",
        "f.yaml:2: (top level): 'title' is required but missing; add it",
        "f.yaml:5: analyses.hip.measure: 'rr' is not one of ['RR', 'OR']; did you mean 'RR'?",
        "f.yaml:6: analyses.hip.levl: unknown key; did you mean 'level'?",
        "f.yaml:7: analyses.hip.subgroups.1: expected text but found the number 3",
        "f.yaml:8: analyses.Total fractures: the name 'Total fractures' does not match "
        "'^[a-z-]+$'; rename it",
        "f.yaml:12: notes.other: unknown key; remove it",
    ]
    with pytest.raises(DataValidationError) as caught:
        check_document(doc, SCHEMA)
    assert caught.value.problems == validate_document(doc, SCHEMA)


def test_no_problem_without_a_cause() -> None:
    doc = parse_yaml("title: T\nanalyses:\n  hip: {measure: RR, level: 0.9}\n", "f", what="c")
    assert schema_problems(doc, SCHEMA) == []
    check_document(doc, SCHEMA)


def test_unknown_keys_are_each_on_their_own_line() -> None:
    doc = parse_yaml("title: T\nanalyses: {}\nfoo: 1\nbar: 2\n", "f.yaml", what="config")
    assert validate_document(doc, SCHEMA) == [
        "f.yaml:3: foo: unknown key; the keys allowed here: analyses, notes, title",
        "f.yaml:4: bar: unknown key; the keys allowed here: analyses, notes, title",
    ]


def test_config_without_lines_invents_no_line() -> None:
    """validate_config on a bare mapping (as the workflow's common.smk calls it today): the
    message names the file and the key, and no line."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["defaults"]["method"] = "XYZ"
    with pytest.raises(DataValidationError) as caught:
        validate_config(config, source="config/config.yaml", project_dir=ROOT)
    assert caught.value.problems == [
        "config/config.yaml: defaults.method: 'XYZ' is not one of ['DL', 'REML', 'ML', 'PM', "
        "'SJ', 'HE']"
    ]
