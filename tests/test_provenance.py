"""The provenance check: every number is printed in its row's quote, every row is cited.

Unit tests of the matcher (each rule once as a pass and once as a failure), a data-driven corpus
of failing tables in ``tests/data/provenance/bad/<case>/`` (each with the exact problems the
check must report), and the shipped ``data/raw/`` tables, which must pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.provenance import (
    QuotedRow,
    QuoteRule,
    check_directory,
    check_provenance,
    has_citation,
    main,
    number_in_quote,
    printed_numbers,
    rule_from_setting,
    rules_from_schema,
    words_value,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "provenance"
SCHEMAS = CORPUS / "schemas"
BAD = CORPUS / "bad"
CASES = sorted(p.name for p in BAD.iterdir() if p.is_dir())


# --------------------------------------------------------------------------- the matcher


@pytest.mark.parametrize(
    ("value", "quote"),
    [
        ("18176", "18,176 women"),
        ("18176", "18 176 women"),
        ("18176", "18\u00a0176 women"),
        ("18176", "18\u2009176 women"),
        ("18176", "18176 women"),
        ("1234567", "1,234,567 doses"),
        ("18176", "of 18,176, and"),
    ],
)
def test_thousands_separators(value: str, quote: str) -> None:
    assert number_in_quote(value, quote)


def test_a_comma_group_is_not_split_but_a_space_group_is() -> None:
    assert not number_in_quote("762", "64 of 1,762 residents")
    assert not number_in_quote("1", "64 of 1,762 residents")
    assert number_in_quote("199", "Cases 199 175")
    assert number_in_quote("175", "Cases 199 175")


def test_a_comma_list_is_not_a_group() -> None:
    assert number_in_quote("0.72", "(0.72, 1.08)")
    assert not number_in_quote("721", "(0.72, 1.08)")


@pytest.mark.parametrize(
    ("value", "quote"),
    [
        ("28", "twenty-eight participants"),
        ("47", "Forty-seven persons in the control group"),
        ("100", "one hundred people"),
        ("625", "Six hundred twenty-five residents"),
        ("625", "Six hundred twenty\u2010five residents"),
        ("102", "one hundred and two"),
        ("2500", "two thousand five hundred"),
        ("17", "seventeen"),
        ("0", "zero events"),
    ],
)
def test_number_words(value: str, quote: str) -> None:
    assert number_in_quote(value, quote)


def test_number_words_are_read_whole() -> None:
    assert not number_in_quote("7", "seventeen")
    assert not number_in_quote("20", "twenty-eight")
    assert not number_in_quote("1", "someone said")
    assert words_value("hundred") is None
    assert words_value("thousand") is None
    assert words_value("six hundred twenty five") == 625


def test_lancet_middle_dot_is_a_decimal_point() -> None:
    assert number_in_quote("0.89", "HR 0·89 (0·77–1·03)")
    assert number_in_quote("1.03", "HR 0·89 (0·77–1·03)")
    assert not number_in_quote("89", "HR 0·89")


def test_leading_zero_may_be_absent_on_either_side() -> None:
    assert number_in_quote("0.047", "P=.047")
    assert number_in_quote(".047", "P=0.047")
    assert not number_in_quote("0.47", "P=.047")


def test_trailing_zeros_denote_the_same_number_but_rounding_does_not_match() -> None:
    assert number_in_quote("2.00", "(0.67, 2)")
    assert number_in_quote("2", "(0.67, 2.00)")
    assert number_in_quote("1.0", "ratio 1")
    assert not number_in_quote("0.37", "0.366%")
    assert not number_in_quote("0.366", "0.37%")


@pytest.mark.parametrize("minus", ["-", "\u2212", "\u2013"])
def test_minus_signs(minus: str) -> None:
    quote = f"difference 17 AU (95% CI, {minus}86 to 53 AU)"
    assert number_in_quote("-86", quote)
    assert not number_in_quote("86", quote)


def test_a_dash_after_a_digit_is_a_range() -> None:
    assert number_in_quote("326", "275 AU (95% CI, 225-326 AU)")
    assert not number_in_quote("-326", "275 AU (95% CI, 225-326 AU)")
    assert number_in_quote("1.28", "HR 1.09 (0.93\u20131.28)")


def test_a_sign_after_a_symbol_is_kept() -> None:
    assert number_in_quote("-6", "(Δ-6 vs Δ46 mm3)")
    assert not number_in_quote("6", "(Δ-6 vs Δ46 mm3)")
    assert not number_in_quote("17", "printed as −17")


def test_declared_units_convert_exactly() -> None:
    units = {"mg": Decimal(40000), "µg": Decimal(40)}
    assert number_in_quote("100000", "ergocalciferol 2.5 mg every 3 months", units)
    assert number_in_quote("1000", "25 µg vitamin", units)
    assert number_in_quote("1000", "(25 µg/day)", units)
    assert not number_in_quote("100000", "ergocalciferol 2.5 mg every 3 months")
    assert not number_in_quote("1001", "25 µg vitamin", units)
    assert not number_in_quote("1000", "25 mgs", units)


def test_printed_numbers_reads_digits_and_words() -> None:
    values = [str(n.value) for n in printed_numbers("Forty-seven of 1,762 (2·6%)")]
    assert values == ["1762", "2.6", "47"]


def test_unreadable_cell_never_matches() -> None:
    assert not number_in_quote("many", "many people")
    assert not number_in_quote("NaN", "NaN")


@pytest.mark.parametrize(
    ("text", "cited"),
    [
        ("doi:10.1056/NEJMoa1809944", True),
        ("https://doi.org/10.1016/S2213-8587(23)00063-3", True),
        ("PMID:12345678", True),
        ("PMID 12345678 (Journal 2001)", True),
        ("pmid: 1", True),
        ("N Engl J Med 1997;337:670-6", False),
        ("", False),
        (None, False),
    ],
)
def test_citations(text: str | None, cited: bool) -> None:
    assert has_citation(text) is cited


# --------------------------------------------------------------------------- rows and rules


def row(line: int, **cells: str) -> QuotedRow:
    base = {"quote": "", "doi_or_pmid": "PMID:1"}
    return QuotedRow("t.csv", line, {**base, **cells})


def test_every_failure_is_listed_with_its_place_and_value() -> None:
    rows = [
        row(2, a="12", b="13", quote="12 of 14"),
        row(3, a="7", doi_or_pmid="Journal 2001", quote="seven"),
        row(4, a="", b="  ", quote=""),
    ]
    problems = check_provenance(rows, ["a", "b"])
    found = [(p.file, p.line, p.column, p.value) for p in problems]
    assert found == [
        ("t.csv", 2, "b", "13"),
        ("t.csv", 3, "doi_or_pmid", "Journal 2001"),
    ]
    assert str(problems[0]).startswith("t.csv:2: column 'b': 13 is not printed")


def test_zero_means_none_only_exempts_zero() -> None:
    rule = QuoteRule("c", zero_means_none=True)
    assert check_provenance([row(2, c="0", quote="no supplement")], [rule]) == []
    assert check_provenance([row(2, c="0", quote="no supplement")], ["c"])
    assert check_provenance([row(2, c="5", quote="no supplement")], [rule])


def test_custom_quote_and_id_columns() -> None:
    rows = [QuotedRow("t.csv", 2, {"text": "42 of 50", "ref": "doi:10.1000/x", "n": "42"})]
    assert check_provenance(rows, ["n"], quote_column="text", id_columns=("ref",)) == []
    assert len(check_provenance(rows, ["n"], quote_column="text", id_columns=("other",))) == 1


def test_schema_settings() -> None:
    assert rule_from_setting("a", None, "s") == QuoteRule("a")
    assert rule_from_setting("a", True, "s") == QuoteRule("a")
    assert rule_from_setting("a", False, "s") is None
    rule = rule_from_setting("a", {"zero_means_none": True, "units": {"g": 1000}}, "s")
    assert rule == QuoteRule("a", True, {"g": Decimal(1000)})
    for bad in ("yes", {"unit": {"g": 1}}, {"units": {"g": "x"}}, {"units": ["g"]}):
        with pytest.raises(DataValidationError, match="'quoted' must be"):
            rule_from_setting("a", bad, "s")


def test_rules_from_a_schema_skip_text_and_unquoted_columns() -> None:
    rules, has_quote = rules_from_schema(SCHEMAS / "trials.schema.yaml")
    names = [r.column for r in rules]
    assert has_quote
    assert "year" not in names and "label" not in names and "quote" not in names
    assert names[:3] == ["amount_mg", "extra_mg", "events_treat"]
    assert rules[0].units == {"g": Decimal(1000)} and rules[1].zero_means_none


# --------------------------------------------------------------------------- tables on disk


def test_the_good_corpus_passes_and_tables_without_a_quote_are_skipped() -> None:
    checked, problems = check_directory(CORPUS / "good", SCHEMAS)
    assert checked == ["trials"]
    assert problems == []


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_reported(case: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(CORPUS / "good", raw)
    shutil.copyfile(BAD / case / "trials.csv", raw / "trials.csv")
    expected = yaml.safe_load((BAD / case / "expected.yaml").read_text(encoding="utf-8"))
    _, problems = check_directory(raw, SCHEMAS)
    shown = "\n".join(map(str, problems))
    assert len(problems) == len(expected["problems"]), shown
    for want in expected["problems"]:
        hits = [
            p
            for p in problems
            if p.file == (raw / want["file"]).as_posix()
            and p.line == want["line"]
            and p.column == want["column"]
            and want["keyword"] in p.message
        ]
        assert hits, f"no problem at {want} in:\n{shown}"


def test_bad_corpus_is_large_enough() -> None:
    assert len(CASES) >= 10


def test_an_unreadable_schema_setting_names_the_file(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "trials.schema.yaml").write_text(
        "columns:\n  n: {type: integer, quoted: maybe}\n  quote: {type: string}\n"
    )
    with pytest.raises(DataValidationError, match=re.escape("trials.schema.yaml: column 'n'")):
        check_directory(CORPUS / "good", schemas)


def test_the_shipped_tables_pass() -> None:
    checked, problems = check_directory(ROOT / "data" / "raw", ROOT / "workflow" / "schemas")
    assert checked == ["avadec_markers", "fractures", "kidney_stones", "studies"]
    assert problems == [], "\n".join(map(str, problems))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(CORPUS / "good"), "--schemas", str(SCHEMAS)]) == 0
    assert "every number is quoted" in capsys.readouterr().out
    raw = tmp_path / "raw"
    shutil.copytree(CORPUS / "good", raw)
    shutil.copyfile(BAD / "several_problems_at_once" / "trials.csv", raw / "trials.csv")
    assert main([str(raw), "--schemas", str(SCHEMAS)]) == 1
    out = capsys.readouterr()
    assert "4 problem(s)" in out.out
    assert f"{raw.as_posix()}/trials.csv:2: column 'events_treat':" in out.err
    assert main([str(tmp_path / "missing"), "--schemas", str(SCHEMAS)]) == 2


def test_module_entry_point_on_the_shipped_data() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "evsynth.validate.provenance", "data/raw"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "every number is quoted" in out.stdout
