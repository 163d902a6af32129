"""Provenance check: every number of a row is printed in the row's quote, every row is cited.

A raw table keeps, beside each extracted number, a verbatim ``quote`` of the source text that
holds it and the publication's DOI or PMID (``doi_or_pmid``). This module confirms both, so a
mistyped, rounded or back-calculated number cannot hide in a table:

* every non-blank cell of a checked numeric column must appear in the same row's quote *as
  printed* (rules below), and
* every row must name a DOI (``10.xxxx/...``) or a PMID (``PMID:123``) in one of its
  citation columns.

It lists every failure, one per cell, as a :class:`ProvenanceProblem`.

How a number may be printed
---------------------------
A cell matches a number in the quote when the two are *numerically equal*; the quote's number
may be written

* with thousands separators: ``18,176``, ``18 176`` (space, no-break or thin space) or
  ``18176``; a space-separated group also counts as its parts (``199 175`` in a transcribed
  table holds 199, 175 and 199175), a comma group does not (``1,762`` does not hold 762);
* in words: ``twenty-eight``, ``Forty-seven``, ``Six hundred twenty-five``, ``one hundred and
  two`` (zero to the millions; ordinals and "a hundred" are not read);
* with the Lancet's middle dot as decimal point: ``0·89``;
* with or without its leading zero: ``.89`` equals ``0.89``;
* with or without trailing zeros: ``1.0`` equals ``1`` and ``2.00`` equals ``2``. The cell and
  the print denote the same number, so this is not rounding; ``0.37`` never matches ``0.366``;
* with a minus sign written ``-``, ``−`` (U+2212) or ``–`` (U+2013). A dash directly after a
  digit is a range (``225-326`` holds 225 and 326, both positive); a dash after anything else
  is a sign (``Δ-6``, ``(−0.09``). A negative cell needs a printed sign; a positive cell
  never matches a signed number (so ``17`` is not found in ``−17``).

Column rules (:class:`QuoteRule`)
---------------------------------
A column may declare

* ``zero_means_none``: a 0 codes "none given" (read from a description such as "or
  placebo") rather than a printed number and is not checked; any other value is;
* ``units``: printed units with the factor that turns them into the column's unit, e.g.
  ``{mg: 1000}`` for a column in µg. The cell then also matches a printed number followed by
  that unit whose product with the factor equals the cell exactly (no rounding).

Schemas declare the rules per column with the setting ``quoted`` (see
:func:`rules_from_schema`): ``true`` (the default for ``integer`` and ``number`` columns),
``false`` (not checked: a value a reviewer derives or codes, such as a publication year), or a
mapping ``{zero_means_none: true, units: {...}}``.

Command line: ``python -m evsynth.validate.provenance data/raw [--schemas workflow/schemas]``
checks every table of ``data/raw`` that has a schema with a quote column, prints each problem
on one line and exits with status 1 when there is any.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from evsynth.errors import DataValidationError
from evsynth.validate.tables import decode_utf8, read_records

QUOTE_COLUMN = "quote"
CITATION_COLUMNS: tuple[str, ...] = ("doi_or_pmid",)

#: Characters read as a minus sign when they do not follow a digit.
SIGNS = "-\u2212\u2013"
#: Spaces that may separate groups of thousands.
GROUP_SPACES = " \u00a0\u2009\u202f"

_DECIMAL = r"[.\u00b7]"
_NUMBER_RE = re.compile(
    r"(?<![\d.\u00b7])"
    r"(?:(?P<comma>\d{1,3}(?:,\d{3})+)(?!\d)(?!,\d)"
    rf"|(?P<space>\d{{1,3}}(?:[{GROUP_SPACES}]\d{{3}})+)(?!\d)"
    r"|(?P<plain>\d+))?"
    rf"(?:{_DECIMAL}(?P<frac>\d+))?"
)
_DOI_RE = re.compile(r"\b10\.\d{4,9}/\S+")
_PMID_RE = re.compile(r"\bPMID:?\s*\d{1,9}\b", re.IGNORECASE)

_UNITS_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMBER_WORDS = sorted([*_UNITS_WORDS, *_SCALES], key=len, reverse=True)
_WORD = r"(?:" + "|".join(_NUMBER_WORDS) + r")\b"
_WORD_SEP = r"[\s\-\u2010\u2011]+"
_WORD_RE = re.compile(rf"\b{_WORD}(?:{_WORD_SEP}(?:and{_WORD_SEP})?{_WORD})*", re.IGNORECASE)


@dataclass(frozen=True)
class ProvenanceProblem:
    """One failed cell or row: where it is, the value concerned and what is wrong."""

    file: str
    line: int
    column: str | None
    value: str
    message: str

    def __str__(self) -> str:
        column = f" column '{self.column}':" if self.column else ""
        return f"{self.file}:{self.line}:{column} {self.message}"


@dataclass(frozen=True)
class QuoteRule:
    """How the values of one numeric column must appear in the quote (see module docstring)."""

    column: str
    zero_means_none: bool = False
    units: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class QuotedRow:
    """One row of a table: its file, the editor line it starts on and its text cells."""

    file: str
    line: int
    cells: Mapping[str, str | None]


@dataclass(frozen=True)
class PrintedNumber:
    """A number read from text: its value, where it ends, and whether it came from words."""

    value: Decimal
    end: int
    signed: bool = False


# --------------------------------------------------------------------------- reading numbers


def _digits_value(match: re.Match[str]) -> Decimal | None:
    whole = match.group("comma") or match.group("space") or match.group("plain") or ""
    frac = match.group("frac")
    if not whole and frac is None:
        return None
    digits = re.sub(rf"[,{GROUP_SPACES}]", "", whole) or "0"
    return Decimal(f"{digits}.{frac}" if frac is not None else digits)


def _is_sign(text: str, start: int) -> bool:
    """Whether the character before ``start`` is a minus sign (a dash not after a digit)."""
    if start == 0 or text[start - 1] not in SIGNS:
        return False
    return start < 2 or not text[start - 2].isdigit()


def digit_numbers(text: str) -> Iterator[PrintedNumber]:
    """Numbers written with digits, each with its sign; space-grouped ones also as parts."""
    for match in _NUMBER_RE.finditer(text):
        value = _digits_value(match)
        if value is None:
            continue
        signed = _is_sign(text, match.start())
        yield PrintedNumber(-value if signed else value, match.end(), signed)
        if match.group("space") and match.group("frac") is None:
            for part in re.finditer(r"\d+", match.group("space")):
                first = signed and part.start() == 0
                number = Decimal(part.group())
                yield PrintedNumber(-number if first else number, match.start() + part.end(), first)


def words_value(phrase: str) -> int | None:
    """The number a phrase of number words names ("Six hundred twenty-five" -> 625).

    ``None`` when a scale word has nothing to multiply ("hundred" alone).
    """
    total = current = 0
    for word in re.split(_WORD_SEP, phrase.lower()):
        if word in ("", "and"):
            continue
        if word in _UNITS_WORDS:
            current += _UNITS_WORDS[word]
        elif word == "hundred":
            if current == 0:
                return None
            current *= 100
        elif word in _SCALES:
            if current == 0:
                return None
            total += current * _SCALES[word]
            current = 0
        else:
            return None
    return total + current


def word_numbers(text: str) -> Iterator[PrintedNumber]:
    """Numbers written in words."""
    for match in _WORD_RE.finditer(text):
        value = words_value(match.group())
        if value is not None:
            yield PrintedNumber(Decimal(value), match.end())


def printed_numbers(text: str) -> list[PrintedNumber]:
    """Every number printed in ``text``, in digits or in words (see module docstring)."""
    return [*digit_numbers(text), *word_numbers(text)]


# --------------------------------------------------------------------------- matching


def parse_cell(value: str) -> Decimal | None:
    """A cell's number (``None`` when the text is not a plain decimal number)."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _unit_after(text: str, end: int, units: Mapping[str, Decimal]) -> Decimal | None:
    """The factor of a declared unit printed right after position ``end`` (spaces allowed)."""
    rest = text[end:].lstrip(GROUP_SPACES)
    for unit in sorted(units, key=len, reverse=True):
        if rest.startswith(unit) and not rest[len(unit) : len(unit) + 1].isalpha():
            return units[unit]
    return None


def number_in_quote(value: str, quote: str, units: Mapping[str, Decimal] | None = None) -> bool:
    """Whether the cell text ``value`` is printed in ``quote`` (rules in the module docstring)."""
    wanted = parse_cell(value)
    if wanted is None:
        return False
    for number in printed_numbers(quote):
        if (number.value < 0) != (wanted < 0) or (number.signed and wanted == 0):
            continue
        if number.value == wanted:
            return True
        factor = _unit_after(quote, number.end, units or {})
        if factor is not None and number.value * factor == wanted:
            return True
    return False


def has_citation(text: str | None) -> bool:
    """Whether ``text`` names a DOI (``10.xxxx/...``) or a PMID (``PMID:123``)."""
    return bool(text) and bool(_DOI_RE.search(text or "") or _PMID_RE.search(text or ""))


def _rule(spec: str | QuoteRule) -> QuoteRule:
    return spec if isinstance(spec, QuoteRule) else QuoteRule(spec)


def _cell_problems(
    row: QuotedRow, rules: Sequence[QuoteRule], quote: str
) -> Iterator[ProvenanceProblem]:
    for rule in rules:
        value = row.cells.get(rule.column)
        if value is None or not value.strip():
            continue
        number = parse_cell(value)
        if number is None:
            message = f"{value!r} is not a number; the provenance check cannot read it"
        elif (rule.zero_means_none and number == 0) or number_in_quote(value, quote, rule.units):
            continue
        else:
            how = " or with a declared unit" if rule.units else ""
            message = (
                f"{value} is not printed in the row's quote (looked for it with or without "
                f"thousands separators, in words, with a middle-dot decimal point{how}); "
                "quote the source text that prints it, or correct the number"
            )
        yield ProvenanceProblem(row.file, row.line, rule.column, value, message)


def check_provenance(
    rows: Iterable[QuotedRow],
    numeric_columns: Sequence[str | QuoteRule],
    quote_column: str = QUOTE_COLUMN,
    id_columns: Sequence[str] = CITATION_COLUMNS,
) -> list[ProvenanceProblem]:
    """Every problem of ``rows``: numbers not printed in the quote, rows without DOI/PMID.

    ``numeric_columns`` names the columns to check (a plain name is checked strictly; a
    :class:`QuoteRule` may relax zeros or add units). A row passes the citation check when any
    of ``id_columns`` holds a DOI or a PMID.
    """
    rules = [_rule(spec) for spec in numeric_columns]
    problems: list[ProvenanceProblem] = []
    for row in rows:
        quote = row.cells.get(quote_column) or ""
        problems.extend(_cell_problems(row, rules, quote))
        if not any(has_citation(row.cells.get(column)) for column in id_columns):
            shown = "; ".join(row.cells.get(c) or "" for c in id_columns)
            problems.append(
                ProvenanceProblem(
                    row.file,
                    row.line,
                    id_columns[0] if id_columns else None,
                    shown,
                    "no DOI (10.xxxx/...) or PMID (PMID:123) names the publication; add one",
                )
            )
    return problems


# --------------------------------------------------------------------------- tables and schemas


def rule_from_setting(column: str, setting: Any, where: str) -> QuoteRule | None:
    """The :class:`QuoteRule` of a schema column's ``quoted`` setting (``None`` = not checked)."""
    if setting is True or setting is None:
        return QuoteRule(column)
    if setting is False:
        return None
    if isinstance(setting, Mapping) and set(setting) <= {"zero_means_none", "units"}:
        units = setting.get("units") or {}
        try:
            factors = {str(unit): Decimal(str(factor)) for unit, factor in units.items()}
        except (InvalidOperation, AttributeError):
            factors = None
        if factors is not None:
            return QuoteRule(column, bool(setting.get("zero_means_none", False)), factors)
    raise DataValidationError(
        [
            f"{where}: column '{column}': 'quoted' must be true, false or a mapping with "
            "'zero_means_none' (true/false) and 'units' (unit: number)"
        ]
    )


def rules_from_schema(path: Path) -> tuple[list[QuoteRule], bool]:
    """The checked numeric columns of a schema file and whether it has a quote column."""
    shown = path.as_posix()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DataValidationError([f"{shown}: cannot read the schema: {error}"]) from None
    columns = document.get("columns") if isinstance(document, dict) else None
    if not isinstance(columns, dict):
        raise DataValidationError([f"{shown}: the schema needs a 'columns' mapping"])
    rules = []
    for name, spec in columns.items():
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("type") in ("integer", "number"):
            rule = rule_from_setting(str(name), spec.get("quoted"), shown)
            if rule is not None:
                rules.append(rule)
    return rules, QUOTE_COLUMN in columns


def read_rows(path: Path) -> tuple[list[QuotedRow], list[ProvenanceProblem]]:
    """A CSV file's rows with their editor lines (problems when it cannot be read)."""
    shown = path.as_posix()
    try:
        data = path.read_bytes()
    except OSError as error:
        return [], [ProvenanceProblem(shown, 0, None, "", f"cannot read: {error.strerror}")]
    text, decode_problems = decode_utf8(data, shown)
    if text is None:
        return [], [ProvenanceProblem(shown, p.line, None, "", p.message) for p in decode_problems]
    header, records, problems = read_records(text, shown)
    found = [ProvenanceProblem(shown, p.line, p.column, "", p.message) for p in problems]
    rows = [
        QuotedRow(shown, line, dict(zip(header, cells, strict=False)))
        for line, cells in records
        if len(cells) == len(header)
    ]
    return rows, found


def check_directory(raw_dir: Path, schema_dir: Path) -> tuple[list[str], list[ProvenanceProblem]]:
    """Check every ``<table>.csv`` of ``raw_dir`` whose schema in ``schema_dir`` has a quote.

    Returns the tables checked and every problem found.
    """
    if not raw_dir.is_dir():
        raise DataValidationError([f"{raw_dir}: not a directory of raw tables"])
    checked: list[str] = []
    problems: list[ProvenanceProblem] = []
    for schema in sorted(schema_dir.glob("*.schema.yaml")):
        table = schema.name.removesuffix(".schema.yaml")
        csv_path = raw_dir / f"{table}.csv"
        if not csv_path.is_file():
            continue
        rules, has_quote = rules_from_schema(schema)
        if not has_quote:
            continue
        rows, read_problems = read_rows(csv_path)
        problems += read_problems + check_provenance(rows, rules)
        checked.append(table)
    return checked, problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: check a directory of raw tables; exit status 1 when anything fails."""
    parser = argparse.ArgumentParser(
        prog="python -m evsynth.validate.provenance",
        description="Confirm that every number of every row is printed in the row's quote "
        "and that every row names a DOI or PMID.",
    )
    parser.add_argument("raw", type=Path, help="directory of raw CSV tables, e.g. data/raw")
    parser.add_argument(
        "--schemas",
        type=Path,
        default=Path("workflow/schemas"),
        help="directory of <table>.schema.yaml files (default: workflow/schemas)",
    )
    args = parser.parse_args(argv)
    try:
        checked, problems = check_directory(args.raw, args.schemas)
    except DataValidationError as error:
        print(error, file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    status = f"{len(problems)} problem(s)" if problems else "every number is quoted"
    print(f"provenance: {', '.join(checked) or 'no tables'} checked; {status}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
